"""TLS peers for the lab (Python's ssl = OpenSSL): a server with one port per behaviour, a client
that walks through successful, resumed and failing handshakes, and the lab's throw-away PKI.

Server ports (all on the server namespace, dual-stack):
    443   TLS 1.2-1.3, certificate www.lab.test, ALPN http/1.1, serves small HTTP/1.1 responses
    4412  TLS 1.2 only, ECDHE-ECDSA-AES128-GCM-SHA256 (session tickets: resumption)
    4413  TLS 1.3 only                          -> a TLS-1.2-only client gets protocol_version
    4414  TLS 1.2, ECDHE-ECDSA-CHACHA20-POLY1305 only -> an AES-GCM-only client: handshake_failure
    4415  certificate expired 30 days ago        -> the verifying client sends certificate_expired
Both peers write SSLKEYLOGFILE-format key logs when given --keylog.
"""
from __future__ import annotations

import argparse
import json
import datetime as dt
import signal
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .peers import _listener, _payload

HOST = "www.lab.test"


# ------------------------------------------------------------------ PKI --

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wirelens lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(d: Path) -> None:
    """ca.pem, and {www,expired}.{pem,key} signed by it (ECDSA P-256 keeps captures small)."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("wirelens lab CA"))
          .issuer_name(_name("wirelens lab CA")).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=365))
          .not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for stem, cn, start, end in (("www", HOST, -1, 90), ("expired", "expired.lab.test", -60, -30)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now + dt.timedelta(days=start))
                .not_valid_after(now + dt.timedelta(days=end))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        (d / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / f"{stem}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))


# ------------------------------------------------------------------ server --

def _server_ctx(pki: Path, cert: str, keylog: str | None, lo: ssl.TLSVersion,
                hi: ssl.TLSVersion, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / f"{cert}.pem", pki / f"{cert}.key")
    ctx.minimum_version, ctx.maximum_version = lo, hi
    if ciphers:
        ctx.set_ciphers(ciphers)
    ctx.set_alpn_protocols(["http/1.1"])
    if keylog:
        ctx.keylog_filename = keylog
    return ctx


def _serve_conn(ctx: ssl.SSLContext, raw: socket.socket) -> None:
    """Handshake, then answer each HTTP/1.1 request (one recv each) until the client closes."""
    raw.settimeout(10)
    try:
        with ctx.wrap_socket(raw, server_side=True) as s:
            while req := s.recv(4096):
                body = _payload(600 if b"/big" in req else 120)
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                          + str(len(body)).encode() + b"\r\n\r\n" + body)
            s.unwrap()                 # the client sent close_notify: answer with ours
    except (OSError, ssl.SSLError):
        raw.close()


def serve(args: argparse.Namespace) -> None:
    v = ssl.TLSVersion
    pki = Path(args.pki)
    ports = {
        443: _server_ctx(pki, "www", args.keylog, v.TLSv1_2, v.TLSv1_3),
        4412: _server_ctx(pki, "www", args.keylog, v.TLSv1_2, v.TLSv1_2,
                          "ECDHE-ECDSA-AES128-GCM-SHA256"),
        4413: _server_ctx(pki, "www", args.keylog, v.TLSv1_3, v.TLSv1_3),
        4414: _server_ctx(pki, "www", args.keylog, v.TLSv1_2, v.TLSv1_2,
                          "ECDHE-ECDSA-CHACHA20-POLY1305"),
        4415: _server_ctx(pki, "expired", args.keylog, v.TLSv1_2, v.TLSv1_3),
    }
    for port, ctx in ports.items():
        threading.Thread(target=_accept_loop, args=(_listener(port), ctx), daemon=True).start()
    while True:
        time.sleep(1)


def _accept_loop(lsock: socket.socket, ctx: ssl.SSLContext) -> None:
    while True:
        raw, _ = lsock.accept()
        threading.Thread(target=_serve_conn, args=(ctx, raw), daemon=True).start()


# ------------------------------------------------------------------ client --

def _client_ctx(pki: Path, keylog: str | None, hi: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
                ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    ctx.maximum_version = hi
    if ciphers:
        ctx.set_ciphers(ciphers)
    ctx.set_alpn_protocols(["http/1.1"])
    if keylog:
        ctx.keylog_filename = keylog
    return ctx


def _session(ctx: ssl.SSLContext, host: str, port: int, sni: str, requests: list[str],
             session: ssl.SSLSession | None = None) -> dict:
    """One TLS connection carrying `requests` (HTTP/1.1 keep-alive); what happened."""
    res: dict = {"port": port, "sni": sni}
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=sni, session=session) as s:
            res.update(version=s.version(), cipher=s.cipher()[0], alpn=s.selected_alpn_protocol(),
                       resumed=s.session_reused)
            for path in requests:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {sni}\r\n\r\n".encode())
                s.recv(4096)
            time.sleep(0.05)           # TLS 1.3 tickets arrive after the first response
            res["session"] = s.session
            s.unwrap()                 # close_notify both ways, then FIN: a clean close
    except (OSError, ssl.SSLError) as e:
        res["error"] = f"{type(e).__name__}: {getattr(e, 'reason', None) or e}"
    res["ms"] = round((time.monotonic() - t0) * 1e3, 1)
    return res


def client(args: argparse.Namespace) -> None:
    """Case "ok": TLS 1.3 and 1.2 handshakes, each then resumed; case "fail": four failures
    (no common version, no common cipher, expired certificate, hostname mismatch)."""
    pki, kl, h = Path(args.pki), args.keylog, args.host
    v = ssl.TLSVersion
    out = []
    if args.case == "ok":
        ctx13 = _client_ctx(pki, kl)
        first = _session(ctx13, h, 443, HOST, ["/", "/big"])
        out += [first, _session(ctx13, h, 443, HOST, ["/"], session=first.get("session"))]
        ctx12 = _client_ctx(pki, kl, hi=v.TLSv1_2)
        first = _session(ctx12, h, 4412, HOST, ["/"])
        out += [first, _session(ctx12, h, 4412, HOST, ["/"], session=first.get("session"))]
    else:
        out.append(_session(_client_ctx(pki, kl, hi=v.TLSv1_2), h, 4413, HOST, ["/"]))
        out.append(_session(_client_ctx(pki, kl, hi=v.TLSv1_2,
                                        ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"),
                            h, 4414, HOST, ["/"]))
        out.append(_session(_client_ctx(pki, kl), h, 4415, "expired.lab.test", ["/"]))
        out.append(_session(_client_ctx(pki, kl), h, 443, "api.lab.test", ["/"]))
    for r in out:
        r.pop("session", None)
    print(json.dumps(out), flush=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="tools.netlab.tlspeers")
    sub = ap.add_subparsers(dest="role", required=True)
    p = sub.add_parser("server")
    p.set_defaults(fn=serve)
    p = sub.add_parser("client")
    p.add_argument("case", choices=("ok", "fail"))
    p.add_argument("host")
    p.set_defaults(fn=client)
    for p in sub.choices.values():
        p.add_argument("--pki", required=True, help="directory made by make_pki()")
        p.add_argument("--keylog")
        p.add_argument("--max-seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(3))
    signal.alarm(max(1, int(args.max_seconds)))
    args.fn(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
