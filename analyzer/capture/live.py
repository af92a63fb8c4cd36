"""Live capture: dumpcap, tcpdump or a raw AF_PACKET socket, read as a streaming capture.

dumpcap (pcapng on a pipe, drop counts in its closing ISB) and tcpdump (`-U -w -`, pcap)
hold the capture privileges, so wirelens itself needs none: their stdout is read by the same
streaming pcap/pcapng readers that read files and stdin. When neither is installed, an
AF_PACKET socket in this process is the fallback (it needs CAP_NET_RAW itself); its capture
filter is compiled to classic BPF by `tcpdump -ddd` when tcpdump exists.

Every backend offers the reader interface (`for frame in capture`, `interfaces`, `format`,
`secrets`, `error`, `close()`) plus `stop()`: stop capturing and let iteration end after the
frames already captured, so Ctrl-C and `-a duration:` lose nothing.

The TUI captures through a file instead (`open_file_capture`): the tool writes the `-w` file
(or a spool file) and the UI follows it at its own pace, so a busy UI can never hold the tool
back and make the kernel drop. The AF_PACKET fallback then runs in a helper process of our
own (`python -m analyzer.capture.live`), for the same reason.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

from .model import CaptureError, Interface, RawFrame
from .opener import reader_for
from .reader import CaptureReader
from .source import Source

BACKENDS = ("dumpcap", "tcpdump", "afpacket")
DEFAULT_SNAPLEN = 262144
# Kernel capture buffer: dumpcap's own default is 2 MiB, which a burst overruns while the
# analyzer (slower than dumpcap) catches up; 32 MiB held 5 s of 50k packets/s with no drop.
DEFAULT_BUFFER_MIB = 32
# How long a stopped capture tool may take to flush and exit before it is killed.
STOP_GRACE_S = 5.0
# Longest a stop waits for a capture tool to deliver the backlog captured before it.
MAX_DRAIN_S = 10.0

LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL = 1, 113
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
# tcpdump's -y name of what a BPF program on our socket sees: the Ethernet frame, or for a
# cooked (SOCK_DGRAM) socket the network-layer packet alone, without the SLL header we add.
FILTER_DLT = {LINKTYPE_ETHERNET: "EN10MB", LINKTYPE_LINUX_SLL: "RAW"}

# Linux constants the socket module does not export.
SOL_PACKET, PACKET_STATISTICS = 263, 6
SO_ATTACH_FILTER, SO_RCVBUFFORCE, SO_TIMESTAMPNS = 26, 33, 35
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
PR_SET_PDEATHSIG = 1


class PermissionDenied(CaptureError):
    """The backend may not open the interface; another backend may still be allowed to."""


def permission_message(iface: str) -> str:
    """The one line that says how to get the right to capture."""
    dumpcap = shutil.which("dumpcap") or "/usr/bin/dumpcap"
    return (f"no permission to capture on {iface}: add your user to the wireshark group "
            f"(sudo usermod -a -G wireshark $USER, then log in again), or give dumpcap the "
            f"rights (sudo setcap cap_net_raw,cap_net_admin=eip {dumpcap}), or run with sudo")


# --- interfaces ----------------------------------------------------------------------------

class NetInterface(NamedTuple):
    """One capturable interface as `-D` lists it."""

    name: str
    description: str
    up: bool
    addresses: tuple[str, ...]


class _Sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 26)]


class _Ifaddrs(ctypes.Structure):
    pass


_Ifaddrs._fields_ = [("next", ctypes.POINTER(_Ifaddrs)), ("name", ctypes.c_char_p),
                     ("flags", ctypes.c_uint), ("addr", ctypes.POINTER(_Sockaddr)),
                     ("netmask", ctypes.c_void_p), ("ifu", ctypes.c_void_p),
                     ("data", ctypes.c_void_p)]


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _addresses() -> dict[str, list[str]]:
    """IPv4 and IPv6 addresses per interface name, from getifaddrs(3) (no privileges)."""
    libc = _libc()
    out: dict[str, list[str]] = {}
    if libc is None:
        return out
    head = ctypes.POINTER(_Ifaddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        return out
    try:
        p = head
        while p:
            ifa = p.contents
            if ifa.addr and ifa.name:
                sa = ifa.addr.contents
                raw = bytes(sa.data)
                if sa.family == socket.AF_INET:
                    addr = socket.inet_ntop(socket.AF_INET, raw[2:6])
                elif sa.family == socket.AF_INET6:
                    addr = socket.inet_ntop(socket.AF_INET6, raw[6:22])
                else:
                    addr = ""
                if addr:
                    out.setdefault(ifa.name.decode(errors="replace"), []).append(addr)
            p = ifa.next
    finally:
        libc.freeifaddrs(head)
    return out


def _sys(name: str, attr: str) -> str:
    try:
        with open(f"/sys/class/net/{name}/{attr}") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def list_interfaces() -> list[NetInterface]:
    """The interfaces a capture can open, like `tshark -D`: up ones first, then `any`."""
    addrs = _addresses()
    found: list[tuple[int, NetInterface]] = []
    for index, name in socket.if_nameindex():
        flags = int(_sys(name, "flags") or "0", 16)
        up = bool(flags & 1)            # IFF_UP
        desc = "Loopback" if _sys(name, "type") == str(ARPHRD_LOOPBACK) else ""
        found.append((index, NetInterface(name, desc, up, tuple(addrs.get(name, ())))))
    found.sort(key=lambda item: (not item[1].up, item[1].description == "Loopback", item[0]))
    ifaces = [i for _, i in found]
    pos = next((k for k, i in enumerate(ifaces) if not i.up or i.description), len(ifaces))
    ifaces.insert(pos, NetInterface("any", "Pseudo-device that captures on all interfaces",
                                    True, ()))
    return ifaces


def interfaces_text(ifaces: list[NetInterface]) -> str:
    """`-D` output: tshark's "N. name (description)", then state and addresses."""
    lines = []
    for n, i in enumerate(ifaces, 1):
        desc = f" ({i.description})" if i.description and i.name != "any" else ""
        extra = "up" if i.up else "down"
        if i.addresses:
            extra += "  " + ", ".join(i.addresses)
        lines.append(f"{n}. {i.name}{desc}  [{extra}]")
    return "\n".join(lines) + "\n"


def resolve_interface(spec: str) -> str:
    """`-i 2` means the second interface of `-D`, like tshark; a name stays a name."""
    if spec.isdigit():
        ifaces = list_interfaces()
        k = int(spec)
        if not 1 <= k <= len(ifaces):
            raise CaptureError(f"there is no interface number {k} ({len(ifaces)} listed by -D)")
        return ifaces[k - 1].name
    return spec


# --- options -------------------------------------------------------------------------------

@dataclass
class LiveOptions:
    """What a capture is asked to do; `backend` None picks the first that works."""

    iface: str
    bpf: str = ""
    snaplen: int = DEFAULT_SNAPLEN
    buffer_mib: int = DEFAULT_BUFFER_MIB     # kernel buffer size
    backend: str | None = None


def available_backends() -> list[str]:
    """Backends usable here, in order of preference."""
    found = [b for b in ("dumpcap", "tcpdump") if shutil.which(b)]
    return found + ["afpacket"]


def open_live(opts: LiveOptions) -> "LiveCapture":
    """Start capturing; raises CaptureError with one line (PermissionDenied for rights).

    Without a forced backend, a backend refused for lack of rights hands over to the next
    one (a setcap'd tcpdump may work where dumpcap does not); when all are refused the
    message lists the fixes.
    """
    if opts.backend is not None:
        if opts.backend in ("dumpcap", "tcpdump") and not shutil.which(opts.backend):
            raise CaptureError(f"--capture-with {opts.backend}: {opts.backend} is not "
                               f"installed (apt-get install "
                               f"{'wireshark-common' if opts.backend == 'dumpcap' else 'tcpdump'})")
        order = [opts.backend]
    else:
        order = available_backends()
    refused: PermissionDenied | None = None
    for name in order:
        try:
            return _OPENERS[name](opts)
        except PermissionDenied as e:
            refused = e
    assert refused is not None
    raise PermissionDenied(permission_message(opts.iface))


class LiveCapture:
    """A running capture, iterated like a CaptureReader."""

    format = "pcapng"
    backend = ""

    def __init__(self, iface: str) -> None:
        self.iface = iface
        self.interfaces: list[Interface] = []
        self.secrets: list[tuple[int, bytes]] = []
        self.names: list[tuple[bytes, str]] = []
        self.error: str | None = None
        self._stopped = threading.Event()

    @property
    def name(self) -> str:
        return self.iface

    @property
    def stopping(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        """Stop capturing; iteration ends once the frames already captured are delivered."""
        self._stopped.set()

    def kernel_drops(self) -> int | None:
        """Packets the kernel dropped so far (None while the backend cannot tell yet)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[RawFrame]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "LiveCapture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- capture tools on a pipe ---------------------------------------------------------------

def _death_signal() -> Callable[[], None] | None:
    """A pre-exec hook that ends the capture tool if wirelens dies without stopping it.

    libc is looked up here, in the parent: the hook runs between fork and exec, where
    loading anything could deadlock. The kernel sends the signal when the *thread* that
    started the tool ends, so a capture must be opened from a thread that lives as long as
    it (the main thread for `read`)."""
    libc = _libc()
    if libc is None:
        return None
    prctl = libc.prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    return hook


_PERMISSION = re.compile(r"permission|not permitted", re.I)
_NO_DEVICE = re.compile(r"no such device|no device named|there is no device", re.I)
_BAD_FILTER = re.compile(r"invalid capture filter|can't parse filter expression:?\s*(.*)", re.I)


def _classify(tool: str, opts: LiveOptions, stderr: str, rc: int | None) -> CaptureError:
    """The one-line error for a capture tool that exited before its first byte."""
    if _PERMISSION.search(stderr):
        return PermissionDenied(permission_message(opts.iface))
    if _NO_DEVICE.search(stderr):
        return CaptureError(f"no such interface: {opts.iface} (wirelens -D lists them)")
    if _BAD_FILTER.search(stderr):
        why = re.search(r"can't parse filter expression:?\s*([^)\n]*)", stderr)
        reason = why.group(1).strip() if why else "not a valid capture filter"
        return CaptureError(f'bad capture filter "{opts.bpf}": {reason}')
    return CaptureError(f"{tool} could not capture on {opts.iface}: {_detail(stderr, rc)}")


def _detail(stderr: str, rc: int | None) -> str:
    """The tool's own first error line, or how it ended."""
    # tcpdump writes "tcpdump: " and its message in two writes: killed between them, the
    # last line is the bare prefix, which says nothing
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not
             ln.startswith(("Capturing on", "File:", "tcpdump: listening on")) and
             not re.fullmatch(r"\s*\w+:\s*", ln)]
    if lines:
        return lines[0]
    if rc is not None and rc < 0:
        return f"it was killed by signal {-rc}"
    return f"it ended with exit status {rc}"


class _ToolCapture(LiveCapture):
    """dumpcap or tcpdump writing a capture to our pipe; their stderr is kept for stats."""

    tool = ""
    settle_s = 0.5

    def __init__(self, opts: LiveOptions) -> None:
        super().__init__(opts.iface)
        self.opts = opts
        self._last_ts = 0
        self._last_seen = self._stop_at = 0.0
        self._stop_ns = 0
        self.stderr_lines: list[str] = []
        self._stderr_done = threading.Event()
        try:
            self.proc = subprocess.Popen(self.argv(opts), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         bufsize=0, start_new_session=True,
                                         preexec_fn=_death_signal())
        except OSError as e:
            raise CaptureError(f"cannot start {self.tool}: {e.strerror or e}") from None
        _grow_pipe(self.proc.stdout.fileno())
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        source = Source(self.proc.stdout, f"{self.tool} on {opts.iface}", [])
        head = b""
        try:
            source.more(0, 16)
            head = source.buf
        except OSError:
            pass
        if len(head) < 4:
            self.close()
            raise _classify(self.tool, opts, "\n".join(self.stderr_lines),
                            self.proc.returncode)
        try:
            self.reader: CaptureReader = reader_for(source, head)
        except CaptureError:
            self.close()
            raise
        self.format = self.reader.format
        self.interfaces = self.reader.interfaces
        self.secrets = self.reader.secrets
        self.names = self.reader.names

    def argv(self, opts: LiveOptions) -> list[str]:
        raise NotImplementedError

    def _drain_stderr(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n").lstrip("\r")
            self._on_stderr(line)
            if len(self.stderr_lines) < 200:
                self.stderr_lines.append(line)
        self._stderr_done.set()

    def _on_stderr(self, line: str) -> None:
        """Statistics lines the tool prints; the base tool prints none we use."""

    def __iter__(self) -> Iterator[RawFrame]:
        now = time.monotonic
        for frame in self.reader:
            self._last_ts = frame.ts_ns
            self._last_seen = now()
            yield frame
        self.error = self.reader.error
        if not self.stopping:
            # The tool ended by itself (interface gone, tool killed): say why.
            try:
                rc = self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                rc = None
            self._stderr_done.wait(2)
            if rc and self.error is None:
                self.error = f"{self.tool} stopped capturing: " \
                    f"{_detail(chr(10).join(self.stderr_lines), rc)}"
        self._reap()

    def stop(self) -> None:
        """Let the tool hand over what it captured before now, then end it (in a thread, so
        this is safe from a signal handler)."""
        if self._stopped.is_set():
            return
        self._stop_ns = time.time_ns()
        self._stop_at = time.monotonic()
        super().stop()
        threading.Thread(target=self._finish, daemon=True).start()

    def _finish(self) -> None:
        """SIGTERM the tool once a frame stamped after stop() has come through, or nothing
        came for `settle_s`. A tool ends without reading what is left in its kernel ring, and
        libpcap hands a ring block over only when it is full or its timeout expires: ending
        it at once would lose the packets of the last fraction of a second."""
        deadline = self._stop_at + MAX_DRAIN_S
        while time.monotonic() < deadline and self.proc.returncode is None:
            if self._last_ts > self._stop_ns:
                break
            if time.monotonic() - max(self._last_seen, self._stop_at) > self.settle_s:
                break
            time.sleep(0.05)
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        """Stop the tool, wait for it (no zombie), kill it if it hangs."""
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self._reap()
        self._stderr_done.wait(2)
        for fh in (self.proc.stdout, self.proc.stderr):
            try:
                fh.close()
            except OSError:
                pass


def _grow_pipe(fd: int) -> None:
    """A 1 MiB pipe absorbs bursts while the reader is busy (the unprivileged maximum)."""
    try:
        import fcntl
        fcntl.fcntl(fd, 1031, 1 << 20)   # F_SETPIPE_SZ
    except (OSError, ImportError):
        pass


class DumpcapCapture(_ToolCapture):
    """dumpcap: privilege-separated, pcapng; kernel drops come in its closing ISB."""

    tool = backend = "dumpcap"
    settle_s = 0.5      # dumpcap's buffer timeout is 250 ms
    _STATS = re.compile(r"Packets received/dropped on interface .*: (\d+)/(\d+)")

    def __init__(self, opts: LiveOptions) -> None:
        self._final_drops: int | None = None
        super().__init__(opts)

    def argv(self, opts: LiveOptions) -> list[str]:
        argv = ["dumpcap", "-i", opts.iface, "-w", "-", "-q", "-s", str(opts.snaplen)]
        if opts.buffer_mib:
            argv += ["-B", str(opts.buffer_mib)]
        if opts.bpf:
            argv += ["-f", opts.bpf]
        return argv

    def _on_stderr(self, line: str) -> None:
        m = self._STATS.search(line)
        if m:
            self._final_drops = int(m.group(2))

    def kernel_drops(self) -> int | None:
        drops = self.reader.drops
        if drops:
            return sum(drops.values())
        return self._final_drops


class TcpdumpCapture(_ToolCapture):
    """tcpdump -U -w -: pcap with nanosecond stamps; SIGUSR1 makes it print its counters."""

    tool = backend = "tcpdump"
    settle_s = 1.3      # tcpdump's buffer timeout is 1 s
    _DROPPED = re.compile(r"(\d+) packets? dropped by kernel")

    def __init__(self, opts: LiveOptions) -> None:
        self._drops: int | None = None
        super().__init__(opts)

    def argv(self, opts: LiveOptions) -> list[str]:
        # Not --immediate-mode: with it libpcap's ring holds only buffer/snaplen frames (8 at
        # the defaults) and a burst is dropped; without it packets wait up to 1 s in a block.
        argv = ["tcpdump", "-i", opts.iface, "-U", "-w", "-", "-n",
                "--time-stamp-precision=nano", "-s", str(opts.snaplen)]
        if os.geteuid() == 0:
            argv += ["-Z", "root"]    # keep the rights to answer our SIGUSR1 stats requests
        if opts.buffer_mib:
            argv += ["-B", str(opts.buffer_mib * 1024)]
        if opts.bpf:
            argv += ["--", opts.bpf]
        return argv

    def _on_stderr(self, line: str) -> None:
        m = self._DROPPED.search(line)
        if m:
            self._drops = int(m.group(1))

    def kernel_drops(self) -> int | None:
        self._signal(signal.SIGUSR1)      # the answer arrives on stderr shortly
        return self._drops


# --- AF_PACKET fallback ----------------------------------------------------------------------

def compile_bpf(expr: str, linktype: int, snaplen: int) -> bytes:
    """Classic BPF for `expr`, compiled by `tcpdump -ddd` (no privileges needed)."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise CaptureError("a capture filter needs tcpdump to compile it when capturing "
                           "without dumpcap or tcpdump (apt-get install tcpdump), or "
                           "capture without -f")
    run = subprocess.run([tcpdump, "-ddd", "-y", FILTER_DLT[linktype], "-s", str(snaplen),
                          "--", expr], capture_output=True, text=True, timeout=30)
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines()
        reason = lines[-1].removeprefix("tcpdump: ") if lines else "rejected by tcpdump"
        reason = reason.removeprefix("can't parse filter expression: ")
        raise CaptureError(f'bad capture filter "{expr}": {reason}')
    nums = run.stdout.split()
    count = int(nums[0])
    insns = [tuple(int(x) for x in nums[1 + 4 * k:5 + 4 * k]) for k in range(count)]
    return b"".join(struct.pack("HBBI", *insn) for insn in insns)


def _attach(sock: socket.socket, program: bytes) -> None:
    """SO_ATTACH_FILTER: struct sock_fprog {unsigned short len; struct sock_filter *filter}."""
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


# One-instruction BPF programs: "return 0" drops every packet, "return 2^32-1" keeps all.
REJECT_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)
ACCEPT_ALL = struct.pack("HBBI", 0x06, 0, 0, 0xFFFFFFFF)


def _drain(sock: socket.socket) -> None:
    """Discard what was queued before the filter was attached."""
    while True:
        try:
            sock.recv(65536, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return


def _sll_header(pkttype: int, hatype: int, proto: int, addr: bytes) -> bytes:
    """The 16-byte Linux cooked header (LINKTYPE_LINUX_SLL) libpcap writes for `any`."""
    return struct.pack(">HHH8sH", pkttype, hatype, len(addr), addr[:8], proto)


class AfPacketCapture(LiveCapture):
    """A raw packet socket in this process: needs CAP_NET_RAW, no capture tool."""

    backend = "afpacket"

    def __init__(self, opts: LiveOptions) -> None:
        super().__init__(opts.iface)
        self.snaplen = opts.snaplen
        self._drops = 0
        anyif = opts.iface == "any"
        if not anyif:
            try:
                socket.if_nametoindex(opts.iface)
            except OSError:
                raise CaptureError(f"no such interface: {opts.iface} (wirelens -D lists them)") \
                    from None
        hatype = int(_sys(opts.iface, "type") or "0") if not anyif else 0
        self.cooked = anyif or hatype not in (ARPHRD_ETHER, ARPHRD_LOOPBACK)
        self.linktype = LINKTYPE_LINUX_SLL if self.cooked else LINKTYPE_ETHERNET
        program = compile_bpf(opts.bpf, self.linktype, opts.snaplen) if opts.bpf else b""
        kind = socket.SOCK_DGRAM if self.cooked else socket.SOCK_RAW
        try:
            # A named interface: protocol 0 receives nothing until bind, so the filter is in
            # place first. `any` cannot be bound by name: it receives at once, so (as
            # libpcap does) a reject-all filter goes on, the queue is drained, then ours.
            sock = socket.socket(socket.AF_PACKET, kind,
                                 socket.htons(ETH_P_ALL) if anyif else 0)
        except PermissionError:
            raise PermissionDenied(permission_message(opts.iface)) from None
        self.sock = sock
        try:
            if anyif:
                _attach(sock, REJECT_ALL)
                _drain(sock)
            if program or anyif:
                _attach(sock, program or ACCEPT_ALL)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            size = opts.buffer_mib << 20
            for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, size)
                    break
                except OSError:
                    continue
            if not anyif:
                sock.bind((opts.iface, ETH_P_ALL))
        except OSError as e:
            sock.close()
            if e.errno in (errno.ENODEV, errno.ENXIO):
                raise CaptureError(f"no such interface: {opts.iface} (wirelens -D lists "
                                   f"them)") from None
            raise CaptureError(f"cannot capture on {opts.iface}: {e.strerror or e}") from None
        self.interfaces.append(Interface(self.linktype, opts.iface, "", opts.snaplen,
                                         1_000_000_000))
        self._buf = bytearray(max(opts.snaplen, 65536) + 64)
        # Called whenever the socket has nothing queued (the file helper flushes then).
        self.on_idle: Callable[[], None] | None = None

    def kernel_drops(self) -> int | None:
        try:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        except OSError:
            return self._drops
        self._drops += struct.unpack("II", raw)[1]      # the kernel resets it on each read
        return self._drops

    def __iter__(self) -> Iterator[RawFrame]:
        sock, buf, snap = self.sock, self._buf, self.snaplen
        view = memoryview(buf)
        cooked, lt = self.cooked, self.linktype
        anyif = self.iface == "any"
        recv = sock.recvmsg_into
        wait = select.poll()
        wait.register(sock, select.POLLIN)
        flags = socket.MSG_TRUNC | socket.MSG_DONTWAIT
        while True:
            try:
                n, anc, _fl, addr = recv([view], 64, flags)
            except BlockingIOError:
                if self._stopped.is_set():
                    return
                if self.on_idle is not None:
                    self.on_idle()
                wait.poll(100)
                continue
            except OSError as e:
                if not self._stopped.is_set():
                    self.error = f"capture on {self.iface} failed: {e.strerror or e}"
                return
            ifname, proto, pkttype, hatype, hwaddr = addr
            # The kernel shows a loopback packet twice (sent, then received): keep one,
            # as libpcap does.
            if pkttype == PACKET_OUTGOING and (ifname == "lo" or (not anyif and lt == 1
                                                                 and hatype == ARPHRD_LOOPBACK)):
                continue
            ts = 0
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack_from("qq", data)
                    ts = sec * 1_000_000_000 + nsec
            if not ts:
                ts = time.time_ns()
            got = min(n, len(buf))
            if cooked:
                data = _sll_header(pkttype, hatype, proto, hwaddr) + bytes(view[:got])
                orig = n + 16
            else:
                data = bytes(view[:got])
                orig = n
            if len(data) > snap:
                data = data[:snap]
            yield RawFrame(ts, len(data), orig, lt, 0, data)

    def close(self) -> None:
        self._stopped.set()
        self.kernel_drops()
        self.sock.close()


_OPENERS: dict[str, Callable[[LiveOptions], LiveCapture]] = {
    "dumpcap": DumpcapCapture, "tcpdump": TcpdumpCapture, "afpacket": AfPacketCapture}


# --- capture tools writing a file (the TUI) -----------------------------------------------

START_TIMEOUT_S = 30.0      # longest a tool may take to say it is capturing, or fail
HELPER_REPORT_S = 0.5       # how often the AF_PACKET helper flushes and reports drops


class FileCapture:
    """A capture tool writing `path` while wirelens follows the file at its own pace.

    The tool owns the capture: nothing the UI does can slow it down, so kernel drops depend
    on the tool alone. `count` is the tool's own -c. stop() ends it as carefully as the pipe
    backends do: the tool gets SIGTERM (and closes the file properly) once the follower has
    read a frame stamped after the stop (it says so through `seen`), or the file has not
    grown for `settle_s`, so packets still in the kernel's ring block are written first.
    `done` is set once the tool has exited: the file is then complete.
    """

    tool = backend = ""
    settle_s = 0.6
    ready_marker = "Capturing on"

    def __init__(self, opts: LiveOptions, path: str, count: int | None = None) -> None:
        self.opts, self.path, self.count = opts, path, count
        self.iface = opts.iface
        self.error: str | None = None
        self.stderr_lines: list[str] = []
        self.done = threading.Event()
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._stop_ns = 0
        self._stop_at = 0.0
        self._seen_ns = 0
        self._drops: int | None = None
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         bufsize=0, start_new_session=True,
                                         preexec_fn=_death_signal(), env=self.env())
        except OSError as e:
            raise CaptureError(f"cannot start {self.tool}: {e.strerror or e}") from None
        threading.Thread(target=self._watch, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._started():
            if self.done.wait(0.05) or time.monotonic() > deadline:
                failure = self.failure(self.proc.poll())
                self.close()
                raise failure

    def _started(self) -> bool:
        """The tool has opened the interface (its ready line is on stderr)."""
        return self._ready.is_set()

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def failure(self, rc: int | None) -> CaptureError:
        """Why the tool did not start capturing, in one line."""
        return _classify(self.tool, self.opts, "\n".join(self.stderr_lines), rc)

    @property
    def name(self) -> str:
        return self.iface

    @property
    def stopping(self) -> bool:
        return self._stopped.is_set()

    def _watch(self) -> None:
        """Read the tool's stderr (readiness, statistics, errors) until it exits."""
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n").lstrip("\r")
            if self.ready_marker in line:
                self._ready.set()
            self._on_stderr(line)
            if len(self.stderr_lines) < 200:
                self.stderr_lines.append(line)
        rc = self.proc.wait()
        if rc and not self._stopped.is_set() and self._ready.is_set():
            self.error = f"{self.tool} stopped capturing: " \
                f"{_detail(chr(10).join(self.stderr_lines), rc)}"
        self.done.set()

    def _on_stderr(self, line: str) -> None:
        """Statistics lines the tool prints (kernel drops)."""

    def seen(self, ts_ns: int) -> None:
        """The follower has read a frame with this time stamp."""
        if ts_ns > self._seen_ns:
            self._seen_ns = ts_ns

    def kernel_drops(self) -> int | None:
        """Packets the kernel dropped so far (None while the tool cannot tell)."""
        return self._drops

    def stop(self) -> None:
        """Stop capturing once what was captured before now is in the file (returns at
        once; `done` says when the tool has finished)."""
        if self._stopped.is_set():
            return
        self._stop_ns = time.time_ns()
        self._stop_at = time.monotonic()
        self._stopped.set()
        threading.Thread(target=self._finish, daemon=True).start()

    def _size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return -1

    def _finish(self) -> None:
        deadline = self._stop_at + MAX_DRAIN_S
        size, grew = self._size(), self._stop_at
        while time.monotonic() < deadline and not self.done.is_set():
            if self._seen_ns > self._stop_ns:
                break
            now_size = self._size()
            if now_size != size:
                size, grew = now_size, time.monotonic()
            if time.monotonic() - grew > self.settle_s:
                break
            time.sleep(0.05)
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """End the tool now if it still runs (SIGTERM, then SIGKILL) and wait for it."""
        self._stopped.set()
        self._signal(signal.SIGTERM)
        if not self.done.wait(STOP_GRACE_S):
            self.proc.kill()
            self.done.wait(STOP_GRACE_S)
        try:
            self.proc.stderr.close()
        except OSError:
            pass


class DumpcapFile(FileCapture):
    """dumpcap -w FILE: pcapng; its kernel drops come when it stops (closing ISB, stderr)."""

    tool = backend = "dumpcap"
    settle_s = 0.8       # 250 ms ring block timeout, then its file is flushed every ~0.5 s

    def _started(self) -> bool:
        # "Capturing on" comes before the interface is opened: the file's header (written
        # once the interface and the filter are set) says it is capturing.
        return self._size() > 0

    def argv(self) -> list[str]:
        o = self.opts
        argv = ["dumpcap", "-i", o.iface, "-w", self.path, "-q", "-s", str(o.snaplen)]
        if o.buffer_mib:
            argv += ["-B", str(o.buffer_mib)]
        if o.bpf:
            argv += ["-f", o.bpf]
        if self.count:
            argv += ["-c", str(self.count)]
        return argv

    def _on_stderr(self, line: str) -> None:
        m = DumpcapCapture._STATS.search(line)
        if m:
            self._drops = int(m.group(2))


class TcpdumpFile(FileCapture):
    """tcpdump -U -w FILE: pcap, nanosecond stamps; SIGUSR1 makes it print its counters."""

    tool = backend = "tcpdump"
    settle_s = 1.3       # its ring block timeout is 1 s
    ready_marker = "listening on"

    def argv(self) -> list[str]:
        o = self.opts
        argv = ["tcpdump", "-i", o.iface, "-U", "-w", self.path, "-n",
                "--time-stamp-precision=nano", "-s", str(o.snaplen)]
        if os.geteuid() == 0:
            argv += ["-Z", "root"]    # keep the rights to our spool and to answer SIGUSR1
        if o.buffer_mib:
            argv += ["-B", str(o.buffer_mib * 1024)]
        if self.count:
            argv += ["-c", str(self.count)]
        if o.bpf:
            argv += ["--", o.bpf]
        return argv

    def _on_stderr(self, line: str) -> None:
        m = TcpdumpCapture._DROPPED.search(line)
        if m:
            self._drops = int(m.group(1))

    def kernel_drops(self) -> int | None:
        if not self.done.is_set():
            self._signal(signal.SIGUSR1)      # the answer arrives on stderr shortly
        return self._drops


class AfPacketFile(FileCapture):
    """Our own helper process on an AF_PACKET socket (neither dumpcap nor tcpdump here):
    a process of its own, so the UI's work never delays its reads."""

    tool = backend = "afpacket"
    settle_s = 0.3

    def argv(self) -> list[str]:
        o = self.opts
        argv = [sys.executable, "-m", "analyzer.capture.live", "--write", self.path,
                "-i", o.iface, "-s", str(o.snaplen), "-B", str(o.buffer_mib)]
        if o.bpf:
            argv += ["-f", o.bpf]
        if self.count:
            argv += ["-c", str(self.count)]
        return argv

    def env(self) -> dict[str, str]:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def failure(self, rc: int | None) -> CaptureError:
        for line in self.stderr_lines:
            if line.startswith(_HELPER_ERROR):
                text = line[len(_HELPER_ERROR):]
                return PermissionDenied(text) if text.startswith("no permission") \
                    else CaptureError(text)
        return super().failure(rc)

    def _on_stderr(self, line: str) -> None:
        if line.startswith(_HELPER_DROPS):
            self._drops = int(line[len(_HELPER_DROPS):])


_HELPER_ERROR = "error: "
_HELPER_DROPS = "drops "
_FILE_BACKENDS: dict[str, type[FileCapture]] = {
    "dumpcap": DumpcapFile, "tcpdump": TcpdumpFile, "afpacket": AfPacketFile}


def open_file_capture(opts: LiveOptions, path: str, count: int | None = None) -> FileCapture:
    """Start a capture tool writing `path`; the same backend choice and one-line errors as
    open_live (PermissionDenied, with the fixes, when no backend may capture)."""
    if opts.backend is not None:
        if opts.backend in ("dumpcap", "tcpdump") and not shutil.which(opts.backend):
            raise CaptureError(f"--capture-with {opts.backend}: {opts.backend} is not "
                               f"installed (apt-get install "
                               f"{'wireshark-common' if opts.backend == 'dumpcap' else 'tcpdump'})")
        order = [opts.backend]
    else:
        order = available_backends()
    for name in order:
        try:
            return _FILE_BACKENDS[name](opts, path, count)
        except PermissionDenied:
            continue
    raise PermissionDenied(permission_message(opts.iface))


def file_suffix(backend: str) -> str:
    """The file name suffix of what a backend writes (dumpcap pcapng, the others pcap)."""
    return ".pcapng" if backend == "dumpcap" else ".pcap"


def _helper_main(argv: list[str]) -> int:
    """The AF_PACKET helper: capture into a pcap file until SIGTERM/SIGINT or -c."""
    import argparse
    from .pcap import PcapWriter
    ap = argparse.ArgumentParser(prog="python -m analyzer.capture.live")
    ap.add_argument("--write", required=True)
    ap.add_argument("-i", dest="iface", required=True)
    ap.add_argument("-f", dest="bpf", default="")
    ap.add_argument("-s", dest="snaplen", type=int, default=DEFAULT_SNAPLEN)
    ap.add_argument("-B", dest="buffer_mib", type=int, default=DEFAULT_BUFFER_MIB)
    ap.add_argument("-c", dest="count", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        cap = AfPacketCapture(LiveOptions(args.iface, args.bpf, args.snaplen,
                                          args.buffer_mib, "afpacket"))
        writer = PcapWriter(args.write, cap.linktype, args.snaplen, nanosecond=True)
    except CaptureError as e:
        print(f"{_HELPER_ERROR}{e}", file=sys.stderr, flush=True)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: cap.stop())
    last = time.monotonic()

    def report() -> None:
        nonlocal last
        writer.flush()
        print(f"{_HELPER_DROPS}{cap.kernel_drops()}", file=sys.stderr, flush=True)
        last = time.monotonic()

    def idle() -> None:
        if time.monotonic() - last > HELPER_REPORT_S / 5:
            report()
    cap.on_idle = idle
    print(f"Capturing on '{args.iface}'", file=sys.stderr, flush=True)
    n = 0
    try:
        for f in cap:
            writer.write(f)
            n += 1
            if args.count and n >= args.count:
                break
            if time.monotonic() - last > HELPER_REPORT_S:
                report()
    finally:
        report()
        writer.close()
        cap.close()
    return 0


# --- stopping ------------------------------------------------------------------------------

def parse_autostop(specs: list[str]) -> tuple[float | None, int | None]:
    """tshark's -a conditions we honour: duration:SECONDS and packets:N."""
    duration = packets = None
    for spec in specs:
        key, _, value = spec.partition(":")
        try:
            if key == "duration":
                duration = float(value)
                if duration <= 0:
                    raise ValueError
            elif key == "packets":
                packets = int(value)
                if packets <= 0:
                    raise ValueError
            else:
                raise CaptureError(f'-a {spec}: wirelens stops on "duration:SECONDS" or '
                                   f'"packets:N"')
        except ValueError:
            raise CaptureError(f"-a {spec}: {key} needs a positive number") from None
    return duration, packets


def stop_after(seconds: float, stop: Callable[[], None]) -> threading.Timer:
    """Call `stop` after `seconds` (tshark's -a duration:), from a daemon timer."""
    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    return timer


@contextmanager
def sigint_stops(stop: Callable[[], None]) -> Iterator[None]:
    """The first Ctrl-C stops the capture gracefully (every captured frame is still read
    and written); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []

    def handler(signum, frame) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)
        stop()

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(_helper_main(sys.argv[1:]))
