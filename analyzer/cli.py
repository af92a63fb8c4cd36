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


def _run_tui(path: str) -> int:
    """Open the terminal UI; a capture that cannot be opened is a one-line error."""
    from .capture import CaptureError
    try:
        from .tui.app import run
        return run(path)
    except CaptureError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: {path}: {e.strerror or e}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # `wirelens [FILE]` opens the TUI on a terminal (the demo capture without a FILE);
    # with stdout redirected, `wirelens FILE` prints like `read` does.
    interactive = sys.stdout.isatty() and sys.stdin.isatty()
    if interactive and len(args_list) <= 1 and (
            not args_list or args_list[0] not in ("read", "report", "-h", "--help")
            and not args_list[0].startswith("-")):
        return _run_tui(args_list[0] if args_list else str(DEMO))
    if args_list and args_list[0] not in ("read", "report", "-h", "--help") and \
            not args_list[0].startswith("-"):
        args_list = ["read", "-r", *args_list]
    elif args_list and (args_list[0] == "-D" or args_list[0].startswith("-i")):
        args_list = ["read", *args_list]
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
