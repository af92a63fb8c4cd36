"""`wirelens read`: stream a capture through the dissectors and print tshark's formats.

Streaming, in file order, one frame at a time: the first line appears as soon as the first
frame is read, and memory stays flat whatever the file size.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from dissectors import CaptureState, dissect_frame
from dissectors.frame import COLUMNS

from . import columns, keylog
from .capture import CaptureError, open_capture, open_writer
from .engine.annotate import SequenceAnnotator
from .output import (FieldsFormat, UsageError, check_fields, fields_line, hex_text,
                     json_packet, tree_text)

if TYPE_CHECKING:
    from .filter import DisplayFilter

# Fields whose values come from the packet context, so no tree is needed to print them.
_NO_TREE_FIELDS = {spec.abbrev for spec in COLUMNS.values()}


def _iface_name(reader, iface: int) -> str:
    """The interface's name for the Frame line (pcapng IDBs have one; pcap has none)."""
    if reader.format != "pcapng" or not 0 <= iface < len(reader.interfaces):
        return ""
    return reader.interfaces[iface].name or "unknown"


def _digits(reader, iface: int) -> int:
    """Decimal places of the Time column: the capture's own timestamp precision."""
    ifs = reader.interfaces
    return ifs[iface].precision if 0 <= iface < len(ifs) else 6


def run_read(args: argparse.Namespace) -> int:
    fmt = FieldsFormat.parse(args.fieldopts)
    if any(name.startswith("wirelens.") for name in args.fields):
        from .engine.firstpass import register_analyzers
        register_analyzers()
    if args.format == "fields":
        if not args.fields:
            raise UsageError("-T fields needs at least one -e FIELD")
        check_fields(args.fields)
    elif args.fields:
        raise UsageError("-e needs -T fields")
    if args.count is not None and args.count < 1:
        raise UsageError("-c needs a positive packet count")
    keys = None
    if getattr(args, "tls_keylog", None):
        try:
            keys = keylog.load(args.tls_keylog)
        except OSError as e:
            raise UsageError(f"cannot read {args.tls_keylog}: {e.strerror or e}") from None
    two_pass = getattr(args, "two_pass", False)
    finder = None
    if two_pass:
        if args.file == "-":
            raise UsageError("-2 needs a file: the first pass reads it twice")
        from .engine.annotate import FindingAnnotator
        from .engine.firstpass import first_pass
        try:
            finder = FindingAnnotator(first_pass(args.file, keylog=keys))
        except CaptureError as e:
            raise UsageError(str(e)) from None
    display = _display_filter(args)
    if display is None and args.format == "fields" and not args.write and \
            args.file != "-" and not two_pass and \
            _column_backed(args.fields, fmt):
        served = _fields_from_columns(args, fmt)
        if served is not None:
            return served
    try:
        reader = open_capture(args.file)
    except CaptureError as e:
        raise UsageError(str(e)) from None
    reader.tls_keys = keys
    out = sys.stdout
    writer = None
    try:
        if args.write:
            try:
                writer = open_writer(args.write, like=reader)
            except CaptureError as e:   # its message names the file and the reason
                raise UsageError(str(e)) from None
            except OSError as e:
                raise UsageError(f"cannot write {args.write}: {e.strerror or e}") from None
        n = _loop(args, reader, writer, fmt, out, finder, display)
    finally:
        if writer is not None:
            writer.close()
        out.flush()
        reader.close()
    if reader.error:
        print(f"wirelens: {args.file}: {reader.error}", file=sys.stderr)
        return 2 if n == 0 else 0
    return 0


def _display_filter(args: argparse.Namespace) -> DisplayFilter | None:
    """The compiled -Y filter; a bad one is the usual one-line error plus the filter text
    and a caret under the problem, exit status 2."""
    if not getattr(args, "display_filter", None):
        return None
    from .filter import FilterError, compile_filter
    try:
        return compile_filter(args.display_filter)
    except FilterError as e:
        raise UsageError(str(e)) from None


def _column_backed(names: list[str], fmt: FieldsFormat) -> bool:
    from .engine import fastfields  # numpy: imported only when this path may run
    return fastfields.serves(names, fmt)


def _fields_from_columns(args: argparse.Namespace, fmt: FieldsFormat) -> int | None:
    """-T fields for column-backed fields: index and summary columns, no tree per frame.
    None when the capture needs the per-frame path (tunnelled transports)."""
    from .engine import fastfields
    try:
        fc = fastfields.open_columns(args.file)
    except CaptureError as e:
        raise UsageError(str(e)) from None
    if fc is None:
        return None
    out = sys.stdout
    if fmt.header:
        out.write(fmt.separator.join(args.fields) + "\n")
    for chunk in fastfields.lines(fc, args.fields, fmt, args.count):
        out.write(chunk)
    out.flush()
    if fc.index.error:
        print(f"wirelens: {args.file}: {fc.index.error}", file=sys.stderr)
        return 2 if len(fc.index) == 0 else 0
    return 0


def _loop(args, reader, writer, fmt: FieldsFormat, out, finder=None,
          display: DisplayFilter | None = None) -> int:
    """tshark's single pass: each frame dissected in order; with -Y the filter sees the
    tcp.analysis items computed so far, and frames it rejects are neither printed nor
    written (but still count for -c, which counts frames read, as tshark's)."""
    want_tree = display is not None or args.verbose or args.format == "json" or (
        args.format == "fields" and not set(args.fields) <= _NO_TREE_FIELDS)
    summary = args.format == "text" and (writer is None or args.print_summary) and \
        (not args.hex or args.print_summary or args.verbose)
    if args.format == "fields" and fmt.header:
        out.write(fmt.separator.join(args.fields) + "\n")
    if args.format == "json":
        out.write("[\n")
    state = CaptureState()
    annotate = SequenceAnnotator()
    tls_labels = state.slot("tls_keylog", dict)   # client random -> key log labels
    if getattr(reader, "tls_keys", None) is not None:
        tls_labels.update(keylog.labels_by_random(reader.tls_keys))
    secrets_seen = 0
    first_ns = prev_ns = None
    n = 0
    pending: list[str] = []
    precision: dict[int, int] = {}
    for f in reader:
        n += 1
        if len(reader.secrets) > secrets_seen:      # a pcapng Decryption Secrets Block
            tls_labels.update(keylog.labels_by_random(
                keylog.from_secrets(reader.secrets[secrets_seen:])))
            secrets_seen = len(reader.secrets)
        root, pkt = dissect_frame(f.data, number=n, ts_ns=f.ts_ns, origlen=f.origlen,
                                  linktype=f.linktype, iface=f.iface, comment=f.comment,
                                  has_ts=f.has_ts, iface_name=_iface_name(reader, f.iface),
                                  state=state, tree=want_tree)
        annotate(root, pkt)
        if finder is not None:
            finder(root, pkt)
        if first_ns is None:
            first_ns = prev_ns = f.ts_ns
        if display is not None and not display.match(root, pkt, f.data):
            prev_ns = f.ts_ns
            if args.count is not None and n >= args.count:
                break
            continue
        disp_ns = state.prev_displayed_ts_ns if state.prev_displayed_ts_ns is not None \
            else f.ts_ns
        digits = precision.get(f.iface)
        if digits is None:
            digits = precision[f.iface] = _digits(reader, f.iface)
        time_text = columns.format_time(args.time_format, f.ts_ns, first_ns, prev_ns, disp_ns,
                                        digits)
        if writer is not None:
            try:
                writer.write(f)
            except (CaptureError, OSError) as e:
                raise UsageError(f"cannot write frame {n} to {args.write}: {e}") from None
        if args.format == "fields":
            pending.append(fields_line(args.fields, root, pkt, fmt, time_text) + "\n")
        elif args.format == "json":
            pending.append(json_packet(root, f.ts_ns, n == 1))
        else:
            if summary and not args.verbose:
                pending.append(_summary_line(pkt, time_text) + "\n")
            if args.verbose:
                pending.append(tree_text(root))
            if args.hex:
                pending.append(hex_text(f.data, pkt))
            if args.verbose or args.hex:
                pending.append("\n")
        prev_ns = f.ts_ns
        state.prev_displayed_ts_ns = f.ts_ns
        # Flush the first line at once (a user waits for it), then in batches for speed.
        if n == 1 or len(pending) >= 256:
            out.write("".join(pending))
            pending.clear()
            if n == 1:
                out.flush()
        if args.count is not None and n >= args.count:
            break
    out.write("".join(pending))
    if args.format == "json":
        out.write("\n]\n" if n else "]\n")
    return n


def _summary_line(pkt, time_text: str) -> str:
    """tshark's default columns: No. (5, right), Time (10, right), Source (12, right),
    Destination (12, left), Protocol, Length, Info."""
    src = columns.source(pkt)
    dst = columns.destination(pkt)
    return f"{pkt.number:>5} {time_text:>10} {src:>12} → {dst:<12} " \
           f"{columns.protocol(pkt)} {pkt.length} {columns.info(pkt)}"
