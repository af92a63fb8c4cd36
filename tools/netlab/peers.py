"""Real peers for the lab: small socket servers and clients that misbehave in known ways.

Each runs as its own process inside a namespace (`python -m tools.netlab.peers ROLE ...`), uses
only the kernel's TCP/IP stack through ordinary sockets, and stops by itself (SIGALRM after
--max-seconds). Servers listen dual-stack on `::` so the same code serves IPv4 and IPv6.
Clients print one JSON line with what they observed; scenarios copy it into the run log.
"""
from __future__ import annotations

import argparse
import http.server
import json
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from typing import Callable

CHUNK = 4096


def _listener(port: int, backlog: int = 16) -> socket.socket:
    """A dual-stack (IPv4 + IPv6) listening TCP socket on `port`."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(backlog)
    return s


def _recv_exact(c: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = c.recv(n - len(buf))
        if not part:
            break
        buf += part
    return buf


def _payload(n: int) -> bytes:
    """n bytes of readable, deterministic filler."""
    line = b"wirelens lab payload 0123456789abcdefghijklmnopqrstuvwxyz\n"
    return (line * (n // len(line) + 1))[:n]


# ------------------------------------------------------------------ servers --

def serve_http(args: argparse.Namespace) -> None:
    """HTTP/1.1 keep-alive server: GET /bytes/N returns N bytes, POST /upload counts the body;
    every response waits --think-ms first (the "slow backend")."""
    think = args.think_ms / 1e3

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 65536       # headers and body leave in one send(), as real servers do
        server_version = "wlens-lab/1.0"
        sys_version = ""

        def _reply(self, body: bytes, ctype: str = "text/plain") -> None:
            time.sleep(think)
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            sized = parts[0] == "bytes" and parts[1:] and parts[1].isdigit()
            size = int(parts[1]) if sized else 120
            self._reply(_payload(min(size, 1 << 20)))

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            got = len(_recv_all(self.rfile, min(n, 1 << 20)))
            self._reply(json.dumps({"received": got}).encode() + b"\n", "application/json")

        def log_message(self, *a: object) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        address_family = socket.AF_INET6
        daemon_threads = True

        def server_bind(self) -> None:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    Server(("::", args.port), Handler).serve_forever()


def _recv_all(f, n: int) -> bytes:
    out = b""
    while len(out) < n:
        part = f.read(n - len(out))
        if not part:
            break
        out += part
    return out


def _tcp_backlog(s: socket.socket, arg: int) -> None:
    """Never accept(): the accept queue (listen backlog `arg`) fills and the kernel drops."""
    while True:
        time.sleep(1)


def _tcp_unread_close(c: socket.socket, arg: int) -> None:
    """Read only the first line of a request, then close with the rest unread -> RST."""
    c.recv(16)
    time.sleep(0.2)
    c.close()


def _tcp_linger0(c: socket.socket, arg: int) -> None:
    """Reply in part, then abort with SO_LINGER {on, 0}: close() sends RST, not FIN."""
    c.recv(CHUNK)
    c.sendall(_payload(arg))
    time.sleep(0.1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def _tcp_reply_close(c: socket.socket, arg: int) -> None:
    """Answer one request and close; a client that keeps writing meets a closed socket."""
    c.recv(CHUNK)
    c.sendall(_payload(arg))
    c.close()


def _tcp_echo(c: socket.socket, arg: int) -> None:
    """Echo lines until the peer closes (used behind the middlebox idle timeout)."""
    while data := c.recv(CHUNK):
        c.sendall(data)
    c.close()


def _tcp_bulk(c: socket.socket, arg: int) -> None:
    """Send `arg` bytes after the request arrives, then close (bulk download)."""
    c.recv(CHUNK)
    c.sendall(_payload(arg))
    c.shutdown(socket.SHUT_WR)
    while c.recv(CHUNK):
        pass
    c.close()


def _tcp_rpc(c: socket.socket, arg: int) -> None:
    """Request/response: read a 2x`arg`-byte request (header + body), answer `arg` bytes.

    The server waits for the whole request before answering, so a client whose body is held
    back by Nagle's algorithm waits for this side's delayed ACK."""
    while True:
        req = _recv_exact(c, 2 * arg)
        if len(req) < 2 * arg:
            break
        c.sendall(_payload(arg))
    c.close()


TCP_MODES: dict[str, Callable[[socket.socket, int], None]] = {
    "unread-close": _tcp_unread_close, "linger0": _tcp_linger0, "reply-close": _tcp_reply_close,
    "echo": _tcp_echo, "bulk": _tcp_bulk, "rpc": _tcp_rpc,
}


def serve_tcp(args: argparse.Namespace) -> None:
    """Run several `mode:port[:arg]` TCP servers, one thread each."""
    threads = []
    for spec in args.specs:
        mode, port, *rest = spec.split(":")
        arg = int(rest[0]) if rest else 0
        if mode == "backlog":
            s = _listener(int(port), backlog=arg)
            threads.append(threading.Thread(target=_tcp_backlog, args=(s, arg), daemon=True))
            continue
        s = _listener(int(port))
        threads.append(threading.Thread(target=_accept_loop, args=(s, TCP_MODES[mode], arg),
                                        daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _accept_loop(s: socket.socket, handler: Callable[[socket.socket, int], None], arg: int) -> None:
    while True:
        c, _ = s.accept()
        threading.Thread(target=_guarded, args=(handler, c, arg), daemon=True).start()


def _guarded(handler: Callable[[socket.socket, int], None], c: socket.socket, arg: int) -> None:
    try:
        handler(c, arg)
    except OSError:
        c.close()


# ------------------------------------------------------------------ clients --

def _connect(host: str, port: int, timeout: float = 10.0, syncnt: int = 0,
             nodelay: bool = False, rcvbuf: int = 0) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if syncnt:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, syncnt)
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def _outcome(fn: Callable[[], object]) -> dict:
    t0 = time.monotonic()
    try:
        res = {"ok": True, "result": fn()}
    except OSError as e:
        res = {"ok": False, "error": type(e).__name__, "errno": e.errno, "msg": str(e)}
    res["seconds"] = round(time.monotonic() - t0, 3)
    return res


def client_connect(args: argparse.Namespace) -> dict:
    """Connect to each port in turn, send a line, read the answer: refused/timeout/ok."""
    out = {}
    for port in args.ports:
        def attempt(port: int = port) -> int:
            with _connect(args.host, port, timeout=args.timeout, syncnt=args.syncnt) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: srv\r\nConnection: close\r\n\r\n")
                n = 0
                while part := s.recv(CHUNK):
                    n += len(part)
                return n
        out[str(port)] = _outcome(attempt)
        time.sleep(args.gap)
    return out


def client_backlog(args: argparse.Namespace) -> dict:
    """Open --conns connections to a server that never accepts; each sends a request."""
    socks, res = [], []
    for _ in range(args.conns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 2)
        s.setblocking(False)
        s.connect_ex((args.host, args.port))
        socks.append(s)
        time.sleep(args.gap)
    time.sleep(0.5)
    for s in socks:
        try:
            s.setblocking(True)
            s.sendall(b"PING\n")
            res.append("sent")
        except OSError as e:
            res.append(type(e).__name__)
    time.sleep(args.hold)
    for s in socks:
        s.close()
    return {"sends": res}


def client_bulk(args: argparse.Namespace) -> dict:
    """Ask for a bulk download and read it all as fast as possible."""
    def fetch() -> int:
        with _connect(args.host, args.port, timeout=30) as s:
            s.sendall(b"SEND\n")
            n = 0
            while part := s.recv(65536):
                n += len(part)
            return n
    return _outcome(fetch)


def client_slow_read(args: argparse.Namespace) -> dict:
    """A receiver with a small buffer that stops reading for --pause seconds (zero window)."""
    def fetch() -> int:
        with _connect(args.host, args.port, timeout=30, rcvbuf=args.rcvbuf) as s:
            s.sendall(b"SEND\n")
            n = len(s.recv(args.read))
            time.sleep(args.pause)
            while part := s.recv(args.read):
                n += len(part)
                time.sleep(args.step)
            return n
    return _outcome(fetch)


def client_resets(args: argparse.Namespace) -> dict:
    """Drive the four reset cases against the `tcp` server ports given."""
    h = args.host

    def unread_close() -> str:          # server reads 16 bytes of 1000 and closes
        with _connect(h, args.unread) as s:
            s.sendall(b"HELLO 1000 bytes\n" + _payload(983))
            return repr(s.recv(CHUNK))

    def linger0() -> int:               # server answers 3000 bytes then aborts
        with _connect(h, args.linger) as s:
            s.sendall(b"GET\n")
            n = 0
            while part := s.recv(CHUNK):
                n += len(part)
            return n

    def closed_socket() -> str:         # server answers and closes; we write again later
        with _connect(h, args.closed) as s:
            s.sendall(b"GET\n")
            s.recv(CHUNK)
            time.sleep(0.3)
            s.sendall(b"MORE\n")         # reaches a socket the server has closed -> RST
            time.sleep(0.3)
            s.sendall(b"AGAIN\n")        # the RST has arrived: EPIPE / ECONNRESET here
            return "no error"

    def idle_timeout() -> str:          # middlebox forgets the flow while we are idle
        with _connect(h, args.idle) as s:
            s.sendall(b"ping 1\n")
            first = s.recv(CHUNK)
            time.sleep(args.idle_seconds)
            s.sendall(b"ping 2\n")
            return repr(first) + " then " + repr(s.recv(CHUNK))

    out = {}
    for name, fn in (("unread_close", unread_close), ("linger0", linger0),
                     ("closed_socket", closed_socket), ("idle_timeout", idle_timeout)):
        out[name] = _outcome(fn)
        time.sleep(0.3)
    return out


def client_rpc(args: argparse.Namespace) -> dict:
    """Write-write-read request/response rounds: header and body in two send() calls."""
    def rounds() -> list[float]:
        times = []
        with _connect(args.host, args.port, nodelay=args.nodelay) as s:
            for _ in range(args.rounds):
                t0 = time.monotonic()
                s.sendall(_payload(args.size))      # "header"
                s.sendall(_payload(args.size))      # "body": held by Nagle until an ACK
                _recv_exact(s, args.size)
                times.append(round((time.monotonic() - t0) * 1e3, 1))
                time.sleep(args.gap)
        return times
    return _outcome(rounds)


def client_resolve(args: argparse.Namespace) -> dict:
    """Look names up through glibc's stub resolver (getaddrinfo), as any program would.

    Each NAME may end in /4 or /6 to ask for A or AAAA only. glibc reads resolv.conf and the
    RES_OPTIONS / LOCALDOMAIN environment variables (edns0, timeouts, search list)."""
    families = {"4": socket.AF_INET, "6": socket.AF_INET6}
    out = {}
    for item in args.names:
        name, _, fam = item.partition("/")

        def lookup(name: str = name, fam: str = fam) -> list[str]:
            infos = socket.getaddrinfo(name, None, families.get(fam, socket.AF_UNSPEC),
                                       socket.SOCK_STREAM)
            return sorted({i[4][0] for i in infos})
        out[item] = _outcome(lookup)       # socket.gaierror is an OSError
        time.sleep(args.gap)
    return out


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-seconds", type=float, default=60.0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="tools.netlab.peers")
    sub = ap.add_subparsers(dest="role", required=True)
    p = sub.add_parser("http")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--think-ms", type=float, default=0.0)
    p.set_defaults(fn=serve_http)
    p = sub.add_parser("tcp")
    p.add_argument("specs", nargs="+",
                   help="mode:port[:arg]; modes: backlog, " + ", ".join(TCP_MODES))
    p.set_defaults(fn=serve_tcp)
    p = sub.add_parser("connect")
    p.add_argument("host")
    p.add_argument("ports", type=int, nargs="+")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--syncnt", type=int, default=0)
    p.add_argument("--gap", type=float, default=0.2)
    p.set_defaults(fn=client_connect)
    p = sub.add_parser("backlog")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--gap", type=float, default=0.1)
    p.add_argument("--hold", type=float, default=4.0)
    p.set_defaults(fn=client_backlog)
    p = sub.add_parser("bulk")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.set_defaults(fn=client_bulk)
    p = sub.add_parser("slow-read")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--rcvbuf", type=int, default=4096)
    p.add_argument("--read", type=int, default=2048)
    p.add_argument("--pause", type=float, default=2.0)
    p.add_argument("--step", type=float, default=0.02)
    p.set_defaults(fn=client_slow_read)
    p = sub.add_parser("resets")
    p.add_argument("host")
    for name in ("unread", "linger", "closed", "idle"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--idle-seconds", type=float, default=3.0)
    p.set_defaults(fn=client_resets)
    p = sub.add_parser("rpc")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--nodelay", action="store_true")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--gap", type=float, default=0.05)
    p.set_defaults(fn=client_rpc)
    p = sub.add_parser("resolve")
    p.add_argument("names", nargs="+")
    p.add_argument("--gap", type=float, default=0.2)
    p.set_defaults(fn=client_resolve)
    for p in sub.choices.values():
        _add_common(p)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(3))
    signal.alarm(max(1, int(args.max_seconds)))
    result = args.fn(args)
    if result is not None:
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
