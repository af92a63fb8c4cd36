"""`wirelens` command line: `read` speaks tshark's flags and prints tshark's formats.

Every user mistake (bad file, unknown field, bad option) ends in one line on stderr and
exit status 2, never a traceback; frames already read are still printed or written.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from .columns import TIME_FORMATS
from .output import UsageError

PROG = "wirelens"


def _read_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("read", help="print packets like tshark -r (tshark's flags)",
                       description="Read a capture and print it the way tshark does.")
    p.add_argument("-r", dest="file", metavar="FILE",
                   help="capture file (pcap, pcapng, gzip-compressed), or - for stdin")
    p.add_argument("-i", dest="iface", metavar="IFACE",
                   help="capture live on IFACE (a name, `any`, or a number from -D)")
    p.add_argument("--follow", dest="follow", metavar="FILE",
                   help="read a capture another tool is still writing, as it grows")
    p.add_argument("-D", dest="list_interfaces", action="store_true",
                   help="list the interfaces -i can capture on, then exit")
    p.add_argument("-f", dest="bpf", metavar="FILTER",
                   help="capture filter (BPF syntax, as tcpdump), with -i")
    p.add_argument("-a", dest="autostop", action="append", default=[], metavar="COND",
                   help="stop when duration:SECONDS have passed or packets:N were read "
                        "(duration with -i or --follow)")
    p.add_argument("-s", dest="snaplen", type=int, default=0, metavar="BYTES",
                   help="capture at most BYTES of each packet (default 262144), with -i")
    p.add_argument("-B", dest="buffer_mib", type=int, default=0, metavar="MiB",
                   help="kernel capture buffer size in MiB, with -i (default 32)")
    p.add_argument("--capture-with", dest="capture_with",
                   choices=("dumpcap", "tcpdump", "afpacket"),
                   help="capture backend to use (default: dumpcap, then tcpdump, then a raw "
                        "AF_PACKET socket)")
    p.add_argument("-l", dest="line_flush", action="store_true",
                   help="flush standard output after each packet")
    p.add_argument("-c", dest="count", type=int, metavar="N", help="stop after N packets")
    p.add_argument("-T", dest="format", choices=("text", "fields", "json"), default="text",
                   help="output format (default: text, tshark's column line)")
    p.add_argument("-e", dest="fields", action="append", default=[], metavar="FIELD",
                   help="field to print with -T fields (repeatable), Wireshark's names")
    p.add_argument("-E", dest="fieldopts", action="append", default=[], metavar="OPT",
                   help="header=y|n, separator=/t|/s|C, occurrence=f|l|a, aggregator=C, "
                        "quote=d|s|n")
    p.add_argument("-Y", dest="display_filter", metavar="FILTER",
                   help="show only frames matching this Wireshark display filter")
    p.add_argument("-V", dest="verbose", action="store_true", help="print the full tree")
    p.add_argument("-x", dest="hex", action="store_true", help="print a hex and ASCII dump")
    p.add_argument("-P", dest="print_summary", action="store_true",
                   help="print the summary line even when writing with -w")
    p.add_argument("-w", dest="write", metavar="OUT",
                   help="write the frames read to OUT (pcapng if the input was, else pcap)")
    p.add_argument("-t", dest="time_format", default="r", choices=TIME_FORMATS,
                   help="time format: r relative, a/ad absolute (local), u/ud UTC, d delta, "
                        "dd delta displayed, e epoch")
    p.add_argument("-2", dest="two_pass", action="store_true",
                   help="analyze the whole file first (like tshark -2) and show wirelens "
                        "diagnoses on the frames they rest on")
    p.add_argument("-n", dest="no_resolve", action="store_true",
                   help="accepted for tshark compatibility: wirelens never resolves names")
    p.add_argument("--tls-keylog", dest="tls_keylog", metavar="FILE",
                   help="TLS key log (NSS format, SSLKEYLOGFILE); sessions it covers are "
                        "marked in their ClientHello (a pcapng's own secrets are read too)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="A Wireshark-grade packet analyzer for the terminal.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _read_parser(sub)
    from .reportcmd import add_parser
    add_parser(sub)
    return parser


DEMO = Path(__file__).resolve().parent.parent / "sample_pcaps" / "demo.pcapng"


def _live_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Capture live and look at the packets in the terminal UI "
                               "(with stdout redirected, `wirelens -i` prints like `read -i`).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-i", dest="iface", metavar="IFACE",
                     help="capture on IFACE (a name, `any`, or a number from -D)")
    src.add_argument("--follow", dest="follow", metavar="FILE",
                     help="follow a capture another tool is still writing")
    p.add_argument("-f", dest="bpf", default="", metavar="FILTER",
                   help="capture filter (BPF syntax, as tcpdump)")
    p.add_argument("-w", dest="write", metavar="FILE",
                   help="also keep every packet captured in FILE (the TUI keeps the last "
                        "--ring-packets)")
    p.add_argument("-c", dest="count", type=int, metavar="N", help="stop after N packets")
    p.add_argument("-a", dest="autostop", action="append", default=[], metavar="COND",
                   help="stop after duration:SECONDS or packets:N")
    p.add_argument("--ring-packets", dest="ring", type=int, default=1_000_000, metavar="N",
                   help="frames the TUI keeps (default 1000000); older ones leave the view "
                        "but stay in the -w file")
    p.add_argument("-s", dest="snaplen", type=int, default=0, metavar="BYTES",
                   help="capture at most BYTES of each packet (default 262144)")
    p.add_argument("-B", dest="buffer_mib", type=int, default=0, metavar="MiB",
                   help="kernel capture buffer size in MiB (default 32)")
    p.add_argument("--capture-with", dest="capture_with",
                   choices=("dumpcap", "tcpdump", "afpacket"),
                   help="capture backend (default: dumpcap, then tcpdump, then AF_PACKET)")
    return p


def _run_live_tui(argv: list[str]) -> int:
    """`wirelens -i IFACE ...` on a terminal: start the capture (its errors, such as the
    missing rights, are one line and exit status 2, before the UI starts), then the UI."""
    import shutil
    import tempfile
    from .capture.live import (DEFAULT_BUFFER_MIB, DEFAULT_SNAPLEN, LiveOptions,
                               open_file_capture, parse_autostop, resolve_interface, stop_after)
    from .capture import CaptureError
    args = _live_parser().parse_args(argv)
    spool_dir = None
    timer = None
    try:
        duration, packets = parse_autostop(args.autostop)
        count = min(x for x in (args.count, packets) if x is not None) \
            if args.count is not None or packets is not None else None
        if count is not None and count < 1:
            raise CaptureError("-c needs a positive packet count")
        if args.ring < 1:
            raise CaptureError("--ring-packets needs a positive number of frames")
        if args.follow:
            if args.bpf or args.write or args.capture_with or count or duration:
                raise CaptureError("--follow takes no capture options (-f -w -c -a "
                                   "--capture-with): another tool is capturing")
            capture, path, name = None, args.follow, args.follow
        else:
            iface = resolve_interface(args.iface)
            if args.write:
                try:
                    open(args.write, "wb").close()
                except OSError as e:
                    raise CaptureError(f"cannot write {args.write}: {e.strerror or e}") \
                        from None
                path = args.write
            else:
                spool_dir = tempfile.mkdtemp(prefix="wirelens-live-")
                path = os.path.join(spool_dir, "spool")
            capture = open_file_capture(
                LiveOptions(iface, args.bpf, args.snaplen or DEFAULT_SNAPLEN,
                            args.buffer_mib or DEFAULT_BUFFER_MIB, args.capture_with),
                path, count)
            name = args.write or f"{iface}.pcapng"
            if duration:
                timer = stop_after(duration, capture.stop)
        from .tui.live_app import run_live
        from .tui.live_store import LiveStore
        store = LiveStore(capture, path, name=name, ring_packets=args.ring, bpf=args.bpf,
                          spool=spool_dir is not None)
        return run_live(store)
    except CaptureError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    finally:
        if timer is not None:
            timer.cancel()
        if spool_dir is not None:
            shutil.rmtree(spool_dir, ignore_errors=True)


def _live_request(args: list[str]) -> bool:
    """Options first with -i (or --follow) among them: a live capture."""
    if not args or not args[0].startswith("-") or args[0] in ("-h", "--help", "-D"):
        return False
    return any(a == "-i" or (a.startswith("-i") and len(a) > 2) or a == "--follow"
               for a in args)


def _without_ring(args: list[str]) -> list[str]:
    """`--ring-packets N` only concerns the TUI: printing ignores it."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--ring-packets":
            skip = True
        elif not a.startswith("--ring-packets="):
            out.append(a)
    return out


def _run_tui(path: str) -> int:
    """Open the terminal UI; a capture that cannot be opened is a one-line error.

    The capture's first frames are painted before the UI's modules are imported (they
    take about half a second): see tui/firstpaint.py."""
    from .capture import CaptureError
    first = None
    try:
        from .tui.firstpaint import paint
        first = paint(path)
        from .tui.app import run
        return run(path, first)
    except CaptureError as e:
        _abandon(first)
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        _abandon(first)
        print(f"{PROG}: {path}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _abandon(first)
        return 130


def _abandon(first) -> None:
    if first is not None:
        first.abandon()


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # `wirelens [FILE]` opens the TUI on a terminal (the demo capture without a FILE);
    # with stdout redirected, `wirelens FILE` prints like `read` does.
    interactive = sys.stdout.isatty() and sys.stdin.isatty()
    if interactive and len(args_list) <= 1 and (
            not args_list or args_list[0] not in ("read", "report", "-h", "--help")
            and not args_list[0].startswith("-")):
        return _run_tui(args_list[0] if args_list else str(DEMO))
    # `wirelens -i IFACE ...` on a terminal opens the TUI on the live capture; redirected,
    # it prints like `read -i`.
    if interactive and _live_request(args_list):
        return _run_live_tui(args_list)
    if args_list and args_list[0] not in ("read", "report", "-h", "--help") and \
            not args_list[0].startswith("-"):
        args_list = ["read", "-r", *args_list]
    elif args_list and (args_list[0] == "-D" or _live_request(args_list)):
        args_list = ["read", *_without_ring(args_list)]
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "report":
            from .reportcmd import run_report
            return run_report(args)
        from .readcmd import run_read
        return run_read(args)
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output went away (| head): not an error of ours.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
