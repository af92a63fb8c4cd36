"""The frame layer: capture metadata as fields, then the link-layer dissector.

`dissect_frame` is the single entry point for dissection. It never raises: `Truncated`
and `Malformed` from any layer become expert items on the frame, every field added
before the failure is kept, and the Info column says what happened, as Wireshark does.
"""
from __future__ import annotations

from .buffer import Buf, Malformed, Truncated
from .data import dissect_data
from .dispatch import LINKTYPE
from .fields import FT, REGISTRY, Severity, expert, field, protocol
from .packet import CaptureState, Packet
from .tree import NULL_TREE, Node

PROTO = protocol("frame", "Frame",
                 explain="What the capture file recorded about the packet: when it arrived "
                         "and how many bytes were on the wire versus kept.")
INTERFACE_ID = field("frame.interface_id", "Interface id", FT.UINT32)
INTERFACE_NAME = field("frame.interface_name", "Interface name", FT.STRING,
                       blurb="The name of the interface the frame was captured on")
ENCAPSULATIONS = {0: "NULL/Loopback", 1: "Ethernet", 12: "Raw IP", 14: "Raw IP", 101: "Raw IP",
                  108: "OpenBSD loopback", 113: "Linux cooked-mode capture v1",
                  228: "Raw IPv4", 229: "Raw IPv6", 276: "Linux cooked-mode capture v2"}
ENCAP = field("frame.encap_type", "Encapsulation type", FT.INT32, strings=ENCAPSULATIONS,
              blurb="The capture's link type (pcap LINKTYPE_ value)")
TIME_SHIFT = field("frame.offset_shift", "Time shift for this packet", FT.RELATIVE_TIME)
TIME = field("frame.time", "Arrival Time", FT.ABSOLUTE_TIME)
TIME_EPOCH = field("frame.time_epoch", "Epoch Time", FT.RELATIVE_TIME,
                   blurb="Seconds since 1970-01-01 00:00:00 UTC")
TIME_DELTA = field("frame.time_delta", "Time delta from previous captured frame",
                   FT.RELATIVE_TIME,
                   explain="A large gap before a packet in one connection is time nobody spent "
                           "sending: an idle client, a server thinking, or a timer firing.")
TIME_DELTA_DISPLAYED = field("frame.time_delta_displayed",
                             "Time delta from previous displayed frame", FT.RELATIVE_TIME)
TIME_RELATIVE = field("frame.time_relative", "Time since reference or first frame",
                      FT.RELATIVE_TIME)
NUMBER = field("frame.number", "Frame Number", FT.UINT32)
LEN = field("frame.len", "Frame Length", FT.UINT32,
            explain="Bytes on the wire. When it exceeds the capture length the capture was "
                    "cut by a snap length and upper layers may be incomplete.")
CAP_LEN = field("frame.cap_len", "Capture Length", FT.UINT32)
MARKED = field("frame.marked", "Frame is marked", FT.BOOLEAN, tfs=("True", "False"))
IGNORED = field("frame.ignored", "Frame is ignored", FT.BOOLEAN, tfs=("True", "False"))
PROTOCOLS = field("frame.protocols", "Protocols in frame", FT.STRING,
                  explain="The layers wirelens recognised, outermost first.")
COMMENT = field("frame.comment", "Comment", FT.STRING, blurb="Packet comment from the file")

MALFORMED_ITEM = protocol("_ws.malformed", "Malformed Packet")
SHORT = protocol("_ws.short", "Packet size limited during capture",
                 explain="The capture kept fewer bytes than the packet had (snap length), so "
                         "higher layers are cut short. Capture with -s 0 to keep everything.")
MALFORMED = expert("_ws.malformed.expert", "malformed", Severity.ERROR, "Malformed Packet",
                   explain="A length or value in the packet contradicts the packet itself: "
                           "a buggy sender, corruption, or a protocol wirelens misidentified.")
# tshark's column pseudo-fields, accepted by -e and filters; their values come from the
# packet's columns, not from the tree.
COLUMNS = {name: field(f"_ws.col.{name}", name, FT.STRING)
           for name in ("No.", "Time", "Source", "Destination", "Protocol", "Length", "Info")}


def dissect_frame(data: bytes, *, number: int, ts_ns: int, origlen: int, linktype: int,
                  state: CaptureState, iface: int = 0, comment: str | None = None,
                  tree: bool = True, iface_name: str = "", prev_ts_ns: int | None = None,
                  prev_displayed_ts_ns: int | None = None,
                  has_ts: bool = True) -> tuple[Node | None, Packet]:
    """Dissect one frame; return its tree (None when tree=False) and its context.

    The tree's root is a container whose children are the layers, frame first.

    Must be called in frame order for frames not yet seen (the first pass); any frame
    already seen may be dissected again at any time for its full tree. The previous
    frame's times default to the state's (right for in-order dissection). A record without
    a time stamp (pcapng Simple Packet or Custom Block: has_ts False) shows no arrival
    times, as tshark, while its ts_ns (0) still counts for deltas.
    """
    if prev_ts_ns is None and number > state.last_frame:
        prev_ts_ns = state.prev_ts_ns
    if prev_displayed_ts_ns is None:
        prev_displayed_ts_ns = state.prev_displayed_ts_ns
    buf = Buf(data, origlen)
    pkt = Packet(number, ts_ns, len(data), buf.reported, linktype, iface, state)
    if state.first_ts_ns is None:
        state.first_ts_ns = ts_ns
    root: Node | None = None
    t = NULL_TREE
    if tree:
        bits = f"{buf.reported} bytes on wire ({buf.reported * 8} bits), " \
               f"{len(data)} bytes captured ({len(data) * 8} bits)"
        where = f" on interface {iface_name}, id {iface}" if iface_name else ""
        # The root holds the layers side by side (frame, eth, ip, ...), as Wireshark shows.
        root = Node(None, 0, len(data))
        t = root
        frame_node = root.add(PROTO, 0, len(data), None, f"Frame {number}: {bits}{where}")
        _frame_fields(frame_node, pkt, comment, prev_ts_ns, prev_displayed_ts_ns, iface_name,
                      has_ts)
    pkt.enter("frame")
    l2 = LINKTYPE.get(linktype) or dissect_data
    try:
        l2(buf, 0, buf.reported, t, pkt)
    except Truncated:
        # tshark: a "[Packet size limited during capture: X truncated]" item, no expert.
        _mark(t, pkt, None, f"Packet size limited during capture: {_proto_label(pkt.current)} "
              "truncated", "[Packet size limited during capture]")
    except Malformed as e:
        _mark(t, pkt, MALFORMED, f"Malformed Packet: {_proto_label(pkt.current)} ({e})",
              "[Malformed Packet]")
    except Exception as e:  # noqa: BLE001 - last line of defence, recorded for the tests
        # A dissector bug must not take the whole capture down: the frame is shown as
        # malformed and the bug is kept in hints so the property tests can fail on it.
        pkt.hints["bug"] = repr(e)
        _mark(t, pkt, MALFORMED, f"Malformed Packet: {_proto_label(pkt.current)} ({e!r})",
              "[Malformed Packet]")
    if root is not None:
        node = root.find("frame.protocols")
        if node is not None:
            node.value = ":".join(p for p in pkt.layers[1:])
    if not pkt.visited:
        state.last_frame = number
        state.prev_ts_ns = ts_ns
    return root, pkt


def _proto_label(proto: str) -> str:
    """The layer name as tshark prints it in these notes ('DNS', 'IPv6', 'Raw')."""
    spec = REGISTRY.get(proto)
    return LABELS.get(proto) or (spec.name.split(",")[0] if spec is not None else proto)


LABELS = {"ip": "IPv4", "ipv6": "IPv6", "tcp": "TCP", "udp": "UDP", "icmp": "ICMP",
          "icmpv6": "ICMPv6", "eth": "Ethernet", "arp": "ARP", "dns": "DNS", "tls": "TLS",
          "raw": "Raw", "vlan": "VLAN", "sll": "SLL", "null": "Null/Loopback"}


def _mark(t, pkt: Packet, spec, label: str, info: str) -> None:
    """Note a Truncated/Malformed layer: Info suffix (no space, as tshark), a tree item
    carrying the label, and for malformed frames the expert item tshark adds."""
    pkt.append_info(info, sep="")
    pkt.damage = "short" if spec is None else "malformed"
    if spec is not None:
        pkt.note(spec)
    if t:
        item = t.add(SHORT if spec is None else MALFORMED_ITEM, 0, 0, None, f"[{label}]")
        if spec is not None:
            item.add_expert(spec, 0, 0, "Malformed Packet (Exception occurred)")


def _frame_fields(root: Node, pkt: Packet, comment: str | None, prev: int | None,
                  prev_disp: int | None, iface_name: str, has_ts: bool) -> None:
    """The frame layer's items, in tshark's order and with its labels."""
    st = pkt.state
    ts = pkt.ts_ns
    if comment:
        root.add(COMMENT, 0, 0, comment)
    if iface_name:
        node = root.add(INTERFACE_ID, 0, 0, pkt.iface, f"Interface id: {pkt.iface} ({iface_name})")
        node.add(INTERFACE_NAME, 0, 0, iface_name)
    root.add(ENCAP, 0, 0, pkt.linktype)
    if has_ts:
        root.add(TIME, 0, 0, (ts // 1_000_000_000, ts % 1_000_000_000))
        root.add(TIME_SHIFT, 0, 0, 0, generated=True)
        root.add(TIME_EPOCH, 0, 0, ts)
    root.add(TIME_DELTA, 0, 0, ts - prev if prev is not None else 0, generated=True)
    root.add(TIME_DELTA_DISPLAYED, 0, 0, ts - prev_disp if prev_disp is not None else 0,
             generated=True)
    root.add(TIME_RELATIVE, 0, 0, ts - (st.first_ts_ns if st.first_ts_ns is not None else ts),
             generated=True)
    root.add(NUMBER, 0, 0, pkt.number)
    root.add(LEN, 0, 0, pkt.length,
             f"Frame Length: {pkt.length} bytes ({pkt.length * 8} bits)")
    root.add(CAP_LEN, 0, 0, pkt.caplen,
             f"Capture Length: {pkt.caplen} bytes ({pkt.caplen * 8} bits)")
    root.add(MARKED, 0, 0, False, generated=True)
    root.add(IGNORED, 0, 0, False, generated=True)
    root.add(PROTOCOLS, 0, 0, "", generated=True)

