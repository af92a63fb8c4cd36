"""Ethernet II (and 802.3 length frames), plus the EtherType hand-off shared by VLAN and SLL.

Wire format (IEEE 802.3): destination MAC (6), source MAC (6), EtherType or length (2),
payload, then zero padding up to the 60-byte minimum and possibly a trailer/FCS.
"""
from __future__ import annotations

from .buffer import Buf
from .data import dissect_data
from .dispatch import ETHERTYPE, LINKTYPE
from .fields import FT, Base, FieldSpec, ether_str, field, protocol
from .packet import Packet
from .tree import Tree

ETHERTYPES = {
    0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q Virtual LAN",
    0x88A8: "802.1ad Provider Bridge (Q-in-Q)", 0x9100: "QinQ: old non-standard 802.1ad",
    0x8035: "RARP", 0x8863: "PPPoE Discovery", 0x8864: "PPPoE Session", 0x8847: "MPLS label switched packet",
    0x88CC: "802.1 Link Layer Discovery Protocol (LLDP)", 0x888E: "802.1X Authentication",
    0x88E5: "802.1AE (MACsec)", 0x8808: "802.3x Flow Control", 0x22F0: "IEEE 1722",
    0x88F7: "PTPv2 over Ethernet (IEEE1588)", 0x0842: "Wake on LAN",
}

PROTO = protocol("eth", "Ethernet II",
                 explain="The local-link frame. Its MAC addresses only name the two ends of one "
                         "hop (often your host and a router), never the remote service.")
DST = field("eth.dst", "Destination", FT.ETHER, blurb="Destination Hardware Address",
            explain="The next hop's MAC. ff:ff:ff:ff:ff:ff is a broadcast (ARP, DHCP).")
SRC = field("eth.src", "Source", FT.ETHER, blurb="Source Hardware Address")
ADDR = field("eth.addr", "Address", FT.ETHER, blurb="Source or Destination Hardware Address")
LG = field("eth.lg", "LG bit", FT.BOOLEAN, bitmask=0x020000,
           tfs=("Locally administered address (this is NOT the factory default)",
                "Globally unique address (factory default)"),
           blurb="Specifies if this is an globally unique (factory default) or locally "
                 "administered (NOT factory default) address",
           explain="Locally administered MACs are typical of VMs, containers and "
                   "randomised Wi-Fi addresses.")
IG = field("eth.ig", "IG bit", FT.BOOLEAN, bitmask=0x010000,
           tfs=("Group address (multicast/broadcast)", "Individual address (unicast)"),
           blurb="Specifies if this is an individual (unicast) or group (broadcast/multicast) "
                 "address")
DST_LG = field("eth.dst.lg", "LG bit", FT.BOOLEAN, bitmask=0x020000, tfs=LG.tfs)
DST_IG = field("eth.dst.ig", "IG bit", FT.BOOLEAN, bitmask=0x010000, tfs=IG.tfs)
SRC_LG = field("eth.src.lg", "LG bit", FT.BOOLEAN, bitmask=0x020000, tfs=LG.tfs)
SRC_IG = field("eth.src.ig", "IG bit", FT.BOOLEAN, bitmask=0x010000, tfs=IG.tfs)
TYPE = field("eth.type", "Type", FT.UINT16, Base.HEX, strings=ETHERTYPES,
             blurb="EtherType: which protocol the payload carries",
             explain="0x0800 is IPv4, 0x86dd IPv6, 0x0806 ARP, 0x8100 a VLAN tag.")
LEN = field("eth.len", "Length", FT.UINT16, blurb="802.3 length of the payload")
PADDING = field("eth.padding", "Padding", FT.BYTES,
                blurb="Ethernet padding up to the 60-byte minimum frame size",
                explain="Zeros the sender added because the frame was shorter than Ethernet's "
                        "minimum. Harmless.")
TRAILER = field("eth.trailer", "Trailer", FT.BYTES,
                blurb="Bytes after the payload that are not padding",
                explain="Extra bytes after the IP packet: often a switch/tap timestamp or an "
                        "FCS the NIC passed up.")

MIN_FRAME = 60  # minimum Ethernet frame without the 4-byte FCS


def _mac_fields(t: Tree, spec, lg, ig, off: int, mac: bytes) -> None:
    n = t.add(spec, off, 6, mac)
    raw = int.from_bytes(mac[:3], "big")
    n.add(ADDR, off, 6, mac)
    n.add_bits(lg, off, 3, raw)
    n.add_bits(ig, off, 3, raw)
    n.add_bits(LG, off, 3, raw).hidden = True
    n.add_bits(IG, off, 3, raw).hidden = True


def dissect_eth(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """Ethernet II or 802.3 header, then the EtherType payload and any padding/trailer."""
    pkt.enter("eth")
    pkt.set_protocol("Ethernet")   # before any check: a cut header still shows as Ethernet
    buf.need(off, 14)
    dst = buf.bytes(off, 6)
    src = buf.bytes(off + 6, 6)
    etype = buf.u16(off + 12)
    t = tree.add(PROTO, off, 14,
                 label=f"Ethernet II, Src: {ether_str(src)}, Dst: {ether_str(dst)}") \
        if tree else tree
    if t:
        _mac_fields(t, DST, DST_LG, DST_IG, off, dst)
        _mac_fields(t, SRC, SRC_LG, SRC_IG, off + 6, src)
    if not pkt.fenced:
        pkt.dl_src, pkt.dl_dst = src, dst
    pkt.set_protocol("Ethernet")
    pkt.set_info("Ethernet II")
    if etype < 0x0600:
        # IEEE 802.3: a length, followed by LLC that we show as data.
        t.add(LEN, off + 12, 2, etype)
        dissect_data(buf, off + 14, min(end, off + 14 + etype), t, pkt)
        return None
    t.add(TYPE, off + 12, 2, etype)
    dissect_ethertype(buf, off + 14, end, tree, pkt, etype, t, frame_start=off)
    return None


def dissect_ethertype(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, etype: int,
                      trailer_tree: Tree, frame_start: int = 0,
                      trailer: FieldSpec = TRAILER) -> None:
    """Hand the payload to the EtherType's dissector; bytes it leaves unused become
    padding (up to the 60-byte minimum) and trailer, added to `trailer_tree` as
    `trailer` (VLAN and SLL name their own trailer field, as Wireshark does)."""
    pkt.enter("ethertype")
    fn = ETHERTYPE.get(etype)
    if fn is None:
        dissect_data(buf, off, end, tree, pkt)
        if not pkt.info or pkt.col_protocol in ("Ethernet", "SLL", "VLAN", "802.1ad"):
            pkt.set_protocol(f"0x{etype:04x}")
        return
    used = fn(buf, off, end, tree, pkt)
    if used is None or not trailer_tree:
        return
    tail = off + used
    captured_end = min(end, len(buf))
    if tail >= captured_end:
        return
    # As Wireshark: only a frame of at least the minimum size can have been padded, and
    # padding is all zeros (anything else makes the whole rest a trailer).
    pad_end = min(captured_end, max(tail, frame_start + MIN_FRAME))
    if pkt.length < frame_start + MIN_FRAME or any(buf.data[tail:pad_end]):
        pad_end = tail
    if pad_end > tail:
        trailer_tree.add(PADDING, tail, pad_end - tail, buf.bytes(tail, pad_end - tail))
    if captured_end > pad_end:
        trailer_tree.add(trailer, pad_end, captured_end - pad_end,
                         buf.bytes(pad_end, captured_end - pad_end))


LINKTYPE.register(1, dissect_eth)
