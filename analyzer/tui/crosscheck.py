"""Wireshark cross-check (`W` in the details pane): Wireshark's own dissection of the
selected frame, for protocols we do not dissect and to compare with ours.

tshark does the dissection. With pyshark installed (`pip install wirelens[wireshark]`) it
runs through pyshark (which finds and drives tshark); pyshark's packet objects keep each
layer's fields flat, so its parser hands over each packet's PDML and the tree is read from
that (Wireshark's exact nesting). Should that hook be missing in a pyshark version, the tree
is rebuilt from the flat fields by Wireshark's naming (tcp.flags.syn under tcp.flags).
Without pyshark, tshark runs here with `-T pdml`. Without tshark the pane says how to
install it.

A big capture is not handed to tshark whole (it would dissect every frame to find one): the
selected frame goes into a temporary capture with the frames of its TCP/UDP stream before
it (so relative sequence numbers, analysis and reassembly have their context), and the view
says so; captures up to FULL_CONTEXT frames are read as they are. Everything runs in a
worker; the cancel event stops it (the tshark process is killed). Every label is made
terminal-safe.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analyzer.engine.summary import INNER, TRANSPORT
from analyzer.textsafe import safe

from .save import write_frames
from .store import Store

INSTALL_HINT = "No tshark: apt install tshark (pyshark: pip install wirelens[wireshark])"
FULL_CONTEXT = 5000      # frames: up to this, tshark reads the capture itself
CONTEXT_HEAD = 200       # else: the first frames of the selected frame's stream...
CONTEXT_TAIL = 1800      # ...and the last ones up to it
TIMEOUT = 60.0           # seconds tshark may take at most
_BAD_XML = bytes(c for c in range(32) if c not in (9, 10, 13))


class Cancelled(Exception):
    """The user moved on before tshark answered."""


@dataclass
class WsNode:
    """One line of Wireshark's tree: its label, field name and the bytes it covers in the
    frame (pos/size; size 0 when none)."""

    label: str
    name: str = ""
    pos: int = 0
    size: int = 0
    children: list[WsNode] = field(default_factory=list)


@dataclass
class WsResult:
    """What the details pane shows: the layers, or only a message (no tshark, an error)."""

    layers: list[WsNode]
    title: str
    note: str = ""


def find_tshark() -> str | None:
    """tshark's path: on PATH, else where pyshark's configuration says."""
    path = shutil.which("tshark")
    if path:
        return path
    try:
        from pyshark.tshark.tshark import TSharkNotFoundException, get_process_path
    except ImportError:
        return None
    try:
        got = get_process_path()
    except TSharkNotFoundException:
        return None
    return got if got and os.path.isfile(got) else None


def has_pyshark() -> bool:
    try:
        import pyshark  # noqa: F401
    except ImportError:
        return False
    return True


def context_rows(store: Store, row: int) -> list[int] | None:
    """The frames to give tshark for frame `row` (None: the whole capture), in order."""
    if len(store) <= FULL_CONTEXT:
        return None
    cap = store.cap
    if cap is None:
        return [row]
    cols = cap.cols
    stream, proto = int(cols.stream[row]), int(cols.ip_proto[row])
    if stream < 0 or proto not in (6, 17):
        return [row]
    rows = np.flatnonzero((cols.stream[:row + 1] == stream) & (cols.ip_proto[:row + 1] == proto)
                          & ((cols.flags[:row + 1] & (TRANSPORT | INNER)) == TRANSPORT))
    if not len(rows) or rows[-1] != row:
        rows = np.r_[rows, row]
    if len(rows) > CONTEXT_HEAD + CONTEXT_TAIL:
        rows = np.r_[rows[:CONTEXT_HEAD], rows[-CONTEXT_TAIL:]]
    return rows.tolist()


@contextmanager
def _capture_for(store: Store, row: int, cancel: threading.Event
                 ) -> Iterator[tuple[str, int, str]]:
    """(file, frame number in it, note) for tshark; a temporary file when needed."""
    rows = context_rows(store, row)
    if rows is None:
        yield store.path, row + 1, ""
        return
    tmp = tempfile.mkdtemp(prefix="wirelens-ws-")
    ext = ".pcapng" if store.index.format == "pcapng" else ".pcap"
    path = os.path.join(tmp, "frame" + ext)
    try:
        write_frames(store.index, rows, path, cancel)
        if cancel.is_set():
            raise Cancelled
        note = (f"tshark saw frame {row + 1} with the {len(rows) - 1} frames of its stream "
                f"before it (the capture is big): its frame numbers and stream ids count "
                f"within those") if len(rows) > 1 else \
            f"tshark saw frame {row + 1} alone (the capture is big): no context"
        yield path, len(rows), note
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch(store: Store, row: int, cancel: threading.Event,
          use_pyshark: bool | None = None) -> WsResult:
    """Wireshark's tree of frame `row` (raises Cancelled when cancel is set first)."""
    tshark = find_tshark()
    if tshark is None:
        return WsResult([], INSTALL_HINT)
    if use_pyshark is None:
        use_pyshark = has_pyshark()
    with _capture_for(store, row, cancel) as (path, number, note):
        if use_pyshark:
            layers = _via_pyshark(tshark, path, number, cancel)
            how = "tshark via pyshark"
        else:
            layers = _via_pdml(tshark, path, number, cancel)
            how = "tshark -T pdml"
    if cancel.is_set():
        raise Cancelled
    if not layers:
        return WsResult([], f"Wireshark ({how}) returned no frame {row + 1}", note)
    return WsResult(layers, f"Frame {row + 1} as Wireshark dissects it ({how})", note)


# -- tshark -T pdml ------------------------------------------------------------------------

def _via_pdml(tshark: str, path: str, number: int, cancel: threading.Event) -> list[WsNode]:
    cmd = [tshark, "-n", "-r", path, "-Y", f"frame.number == {number}", "-T", "pdml"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, start_new_session=True) as proc:
        out: list[bytes] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
        reader.start()
        end = time.monotonic() + TIMEOUT
        while reader.is_alive():
            if cancel.is_set() or time.monotonic() > end:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)    # tshark and anything it started
                except ProcessLookupError:
                    pass
                reader.join()
                raise Cancelled
            reader.join(0.02)
        proc.wait()
    return parse_pdml(b"".join(out))


def parse_pdml(xml: bytes) -> list[WsNode]:
    """The layers of the first packet of a PDML document (geninfo left out)."""
    if not xml.strip():
        return []
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        # control characters XML 1.0 forbids, should tshark pass any through
        root = ET.fromstring(xml.translate(None, _BAD_XML))
    packet = root.find("packet")
    if packet is None:
        return []
    return [_pdml_node(p) for p in packet.findall("proto") if p.get("name") != "geninfo"]


def _pdml_node(el: ET.Element) -> WsNode:
    label = el.get("showname") or el.get("show") or el.get("name") or ""
    name = el.get("name") or ""
    node = WsNode(safe(label), safe(name), _int(el.get("pos")), _int(el.get("size")))
    for child in el:
        if child.tag in ("field", "proto") and child.get("hide") != "yes":
            node.children.append(_pdml_node(child))
    return node


def _int(v: str | None) -> int:
    try:
        return int(v) if v is not None else 0
    except ValueError:
        return 0


# -- pyshark -------------------------------------------------------------------------------

def _via_pyshark(tshark: str, path: str, number: int, cancel: threading.Event) -> list[WsNode]:
    """pyshark runs its own event loop, in a thread of its own here that also closes it (so
    nothing is left for pyshark's finalizer to run on the UI's loop); a cancel kills its
    tshark and stops waiting."""
    capture_class, raw = _pyshark_capture()
    got: list[Any] = []
    failed: list[BaseException] = []
    caps: list[Any] = []

    def read() -> None:
        cap = None
        try:
            cap = capture_class(path, display_filter=f"frame.number == {number}",
                                tshark_path=tshark, keep_packets=False)
            caps.append(cap)
            for pkt in cap:
                got.append(pkt)
                break
        except Exception as e:     # noqa: BLE001 - pyshark raises its own kinds; say so
            failed.append(e)
        finally:
            if cap is not None:
                try:
                    cap.close()
                    cap.eventloop.close()
                except Exception:     # noqa: BLE001 - tshark already gone: nothing to close
                    pass
    th = threading.Thread(target=read, daemon=True, name="wirelens-pyshark")
    th.start()
    end = time.monotonic() + TIMEOUT
    while th.is_alive():
        if cancel.is_set() or time.monotonic() > end:
            for cap in caps:
                _kill(cap)
            raise Cancelled
        th.join(0.02)
    if failed:
        raise RuntimeError(f"pyshark: {failed[0]!r}")
    if not got:
        return []
    if raw:
        return parse_pdml(b"<pdml>" + got[0] + b"</pdml>")
    pkt = got[0]
    layers = []
    info = getattr(pkt, "frame_info", None)
    if info is not None:
        layers.append(_pyshark_layer(info, f"Frame {number}"))
    for layer in pkt.layers:
        layers.append(_pyshark_layer(layer, layer.layer_name))
    return layers


def _pyshark_capture() -> tuple[type, bool]:
    """pyshark's FileCapture whose parser yields each packet's PDML bytes (True), or the
    plain FileCapture (False) when this pyshark lacks the parser hook."""
    from pyshark import FileCapture
    try:
        from pyshark.tshark.output_parser.tshark_xml import TsharkXmlParser
    except ImportError:
        return FileCapture, False
    if not hasattr(FileCapture, "_setup_tshark_output_parser") or \
            not hasattr(TsharkXmlParser, "_parse_single_packet"):
        return FileCapture, False

    class _RawParser(TsharkXmlParser):
        def _parse_single_packet(self, packet: bytes) -> bytes:
            return packet

    class _RawCapture(FileCapture):
        def _setup_tshark_output_parser(self) -> Any:
            return _RawParser()
    return _RawCapture, True


def _kill(cap: Any) -> None:
    """Kill pyshark's tshark from outside its loop's thread (its reader then ends)."""
    try:
        for proc in list(getattr(cap, "_running_processes", ())):
            try:
                proc.kill()
            except ProcessLookupError:
                pass
    except Exception:     # noqa: BLE001 - best effort: the process may be gone already
        pass


def _pyshark_layer(layer: Any, title: str) -> WsNode:
    node = WsNode(safe(title), safe(getattr(layer, "layer_name", title)))
    stack: list[WsNode] = []
    for fname in layer.field_names:
        container = layer.get_field(fname)
        if container is None:
            continue
        for f in getattr(container, "all_fields", [container]):
            if getattr(f, "hide", False) in (True, "yes"):
                continue
            name = getattr(f, "name", "") or ""
            label = getattr(f, "showname", None) or getattr(f, "show", None) or name
            item = WsNode(safe(str(label)), safe(name), _int(getattr(f, "pos", None)),
                          _int(getattr(f, "size", None)))
            while stack and not (name and name.startswith(stack[-1].name + ".")):
                stack.pop()
            (stack[-1].children if stack else node.children).append(item)
            if name:
                stack.append(item)
    return node
