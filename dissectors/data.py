"""The fallback for bytes no dissector claims: shown as data, like Wireshark's "data"."""
from __future__ import annotations

from .buffer import Buf
from .fields import FT, field, protocol
from .packet import Packet
from .tree import Tree

PROTO = protocol("data", "Data",
                 explain="Bytes wirelens has no dissector for; the hex pane shows them as-is.")
DATA = field("data.data", "Data", FT.BYTES, blurb="Payload bytes no dissector claimed")
LEN = field("data.len", "Length", FT.UINT32, blurb="Number of payload bytes")


def dissect_data(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> int | None:
    """Show [off, end) as opaque data (captured part only)."""
    size = min(end, len(buf)) - off
    if size <= 0:
        return None
    pkt.enter("data")
    t = tree.add(PROTO, off, size, label=f"Data ({size} bytes)")
    if t:
        t.add(DATA, off, size, buf.rest(off)[:size])
        t.add(LEN, off, size, size, generated=True)
    return None
