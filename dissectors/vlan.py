"""IEEE 802.1Q VLAN tags (EtherTypes 0x8100 and the pre-standard 0x9100) and IEEE 802.1ad
provider (S-)tags (0x88a8), stacked in any order for Q-in-Q.

Wire format of a tag, after the EtherType that announced it: the tag control information
(priority 3 bits, drop eligible 1 bit, VLAN ID 12 bits), then the next EtherType (or an
802.3 length). Each tag is its own layer, so a double-tagged frame shows two `vlan.id`
values, outer first, like tshark's `201,200`.
"""
from __future__ import annotations

from .buffer import Buf
from .data import dissect_data
from .dispatch import ETHERTYPE
from .ethernet import ETHERTYPES, dissect_ethertype
from .fields import FT, Base, FieldSpec, Severity, expert, field, protocol
from .packet import Packet
from .tree import Tree

# Wireshark stops after this many nested tags of one kind; it also bounds our recursion.
MAX_TAGS = 20
ETHER_MAX_LEN = 1500  # a type/length value up to this is an 802.3 length, not an EtherType

PRIORITIES = {0: "Best Effort (default)", 1: "Background", 2: "Excellent Effort",
              3: "Critical Applications", 4: "Video, < 100ms latency and jitter",
              5: "Voice, < 10ms latency and jitter", 6: "Internetwork Control",
              7: "Network Control"}

PROTO = protocol(
    "vlan", "802.1Q Virtual LAN",
    explain="A tag a switch or hypervisor adds to keep networks apart on one cable. A "
            "service that cannot reach a peer on the 'same' subnet may simply be on another "
            "VLAN; a wrong or missing tag on a trunk drops frames silently.")
PRIORITY = field("vlan.priority", "Priority", FT.UINT16, bitmask=0xE000, strings=PRIORITIES,
                 blurb="Priority Code Point (802.1p class of service)",
                 explain="0 is best effort. Switches queue higher values first when links are "
                         "congested; voice and control traffic use 5-7.")
DEI = field("vlan.dei", "DEI", FT.BOOLEAN, bitmask=0x1000, tfs=("Eligible", "Ineligible"),
            blurb="Drop Eligible Indicator",
            explain="Set frames are dropped first when a switch is congested: expect loss "
                    "and retransmissions for them under load.")
ID = field("vlan.id", "ID", FT.UINT16, bitmask=0x0FFF, blurb="VLAN ID",
           explain="Which virtual LAN the frame belongs to. Hosts only talk directly within "
                   "one VLAN; traffic between VLANs must pass a router or firewall.")
ETYPE = field("vlan.etype", "Type", FT.UINT16, Base.HEX, strings=ETHERTYPES,
              blurb="Ethertype of the payload")
LEN = field("vlan.len", "Length", FT.UINT16, blurb="802.3 length of the payload")
TRAILER = field("vlan.trailer", "Trailer", FT.BYTES, blurb="VLAN Trailer",
                explain="Bytes after the payload that are not padding: often a tap's "
                        "timestamp or an FCS.")
LEN_PAST_END = expert("vlan.len.past_end", "malformed", Severity.ERROR,
                      "Length field value goes past the end of the payload")
TOO_MANY_TAGS = expert("vlan.too_many_tags", "undecoded", Severity.WARN,
                       "Too many nested VLAN tags",
                       explain="More stacked tags than any real network uses: a crafted or "
                               "corrupt frame. wirelens stops decoding it here.")

AD_PROTO = protocol(
    "ieee8021ad", "IEEE 802.1ad",
    explain="A provider (S-)tag: a carrier's or data centre's outer VLAN around the "
            "customer's own 802.1Q tag (Q-in-Q).")
AD_PRIORITY = field("ieee8021ad.priority", "Priority", FT.UINT16, bitmask=0xE000,
                    blurb="Priority Code Point of the service tag")
AD_DEI = field("ieee8021ad.dei", "DEI", FT.UINT16, bitmask=0x1000, blurb="Drop Eligibility")
AD_ID = field("ieee8021ad.id", "ID", FT.UINT16, bitmask=0x0FFF, blurb="Vlan ID",
              explain="The provider's VLAN; the customer's VLAN is in the inner 802.1Q tag.")
AD_SVID = field("ieee8021ad.svid", "ID", FT.UINT16, bitmask=0x0FFF, blurb="S-Vlan ID")
AD_CVID = field("ieee8021ad.cvid", "ID", FT.UINT16, bitmask=0x0FFF, blurb="C-Vlan ID")
AD_ETYPE = field("ieee8021ah.etype", "Type", FT.UINT16, Base.HEX, strings=ETHERTYPES,
                 blurb="Ethertype of the payload of a provider tag")
AD_TRAILER = field("ieee8021ah.trailer", "Trailer", FT.BYTES, blurb="802.1ah Trailer")


def _too_deep(tree: Tree, pkt: Packet, proto_name: str, spec: FieldSpec, off: int) -> bool:
    """True (after saying so) when this is one nested tag of the same kind too many."""
    if pkt.layers.count(proto_name) <= MAX_TAGS:
        return False
    pkt.note(TOO_MANY_TAGS)
    t = tree.add(spec, off, 0)
    if t:
        t.add_expert(TOO_MANY_TAGS, off, 0)
    return True


def dissect_vlan(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """One 802.1Q tag, then its payload by EtherType (or as 802.3 data with a length)."""
    pkt.enter("vlan")
    pkt.set_protocol("VLAN")
    if _too_deep(tree, pkt, "vlan", PROTO, off):
        return None
    buf.need_within(off, 2, end)
    tci = buf.u16(off)
    pri, dei, vid = tci >> 13, tci >> 12 & 1, tci & 0x0FFF
    pkt.set_info(f"PRI: {pri}  DEI: {dei}  ID: {vid}")
    t = tree.add(PROTO, off, 4, label=f"{PROTO.name}, PRI: {pri}, DEI: {dei}, ID: {vid}")
    if t:
        t.add_bits(PRIORITY, off, 2, tci)
        t.add_bits(DEI, off, 2, tci)
        t.add_bits(ID, off, 2, tci)
    buf.need_within(off + 2, 2, end)
    etype = buf.u16(off + 2)
    if etype <= ETHER_MAX_LEN:
        _length_payload(buf, off + 4, end, tree, t, pkt, etype)
        return None
    t.add(ETYPE, off + 2, 2, etype)
    dissect_ethertype(buf, off + 4, end, tree, pkt, etype, t, trailer=TRAILER)
    return None


def _length_payload(buf: Buf, off: int, end: int, tree: Tree, t: Tree, pkt: Packet,
                    length: int) -> None:
    """An 802.3 length after the tag: the payload is LLC, shown as data; beyond it, trailer."""
    t.add(LEN, off - 2, 2, length)
    payload_end = off + length
    if payload_end > end:
        pkt.note(LEN_PAST_END)
        if t:
            t.add_expert(LEN_PAST_END, off - 2, 2)
        payload_end = end
    captured_end = min(end, len(buf))
    if t and captured_end > payload_end:
        t.add(TRAILER, payload_end, captured_end - payload_end,
              buf.bytes(payload_end, captured_end - payload_end))
    dissect_data(buf, off, payload_end, tree, pkt)


def dissect_8021ad(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """One 802.1ad service tag, then its payload (usually a customer 802.1Q tag).

    An S-tag directly followed by another 0x88a8 tag is shown, as tshark does, as one
    layer holding the S-VID and the C-VID.
    """
    pkt.enter("ieee8021ad")
    pkt.set_protocol("802.1ad")
    if _too_deep(tree, pkt, "ieee8021ad", AD_PROTO, off):
        return None
    buf.need_within(off, 2, end)
    tci = buf.u16(off)
    pkt.set_info(f"PRI: {tci >> 13}  DROP: {tci >> 12 & 1} ID: {tci & 0x0FFF}")
    t = tree.add(AD_PROTO, off, 4)
    buf.need_within(off + 2, 2, end)
    etype = buf.u16(off + 2)
    if etype != 0x88A8:
        if t:
            t.label = f"{AD_PROTO.name}, ID: {tci & 0x0FFF}"
        _ad_tci(t, off, tci, AD_ID)
        etype_off = off + 2
    else:
        buf.need_within(off + 4, 4, end)
        ctci, etype = buf.u16(off + 4), buf.u16(off + 6)
        if t:
            t.label = f"{AD_PROTO.name}, S-VID: {tci & 0x0FFF}, C-VID: {ctci & 0x0FFF}"
            t.set_size(8)
        _ad_tci(t, off, tci, AD_SVID)
        _ad_tci(t, off + 4, ctci, AD_CVID)
        etype_off = off + 6
    t.add(AD_ETYPE, etype_off, 2, etype)
    dissect_ethertype(buf, etype_off + 2, end, tree, pkt, etype, t, trailer=AD_TRAILER)
    return None


def _ad_tci(t: Tree, off: int, tci: int, id_spec: FieldSpec) -> None:
    if t:
        t.add_bits(AD_PRIORITY, off, 2, tci)
        t.add_bits(AD_DEI, off, 2, tci)
        t.add_bits(id_spec, off, 2, tci)


ETHERTYPE.register(0x8100, dissect_vlan)
ETHERTYPE.register(0x9100, dissect_vlan)
ETHERTYPE.register(0x88A8, dissect_8021ad)
