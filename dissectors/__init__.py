"""wirelens dissectors: pure functions from bytes to a field tree. No I/O, no UI.

Importing the package registers every protocol's fields and dispatch-table entries.
"""
from . import data, ethernet, frame  # noqa: F401  (registration order: lowest layer first)
from . import sll, null, raw, vlan, arp  # noqa: F401
from . import ipv4, ipv6, icmp, icmpv6  # noqa: F401
from . import tcp, udp  # noqa: F401
from . import dns  # noqa: F401
from . import tls  # noqa: F401
from . import ppp, pppoe, l2tp  # noqa: F401
from .buffer import Buf, DissectError, Malformed, Truncated
from .fields import EXPERTS, REGISTRY, FieldSpec
from .frame import dissect_frame
from .packet import CaptureState, Packet
from .tree import NULL_TREE, Node

__all__ = ["Buf", "DissectError", "Malformed", "Truncated", "EXPERTS", "REGISTRY", "FieldSpec",
           "dissect_frame", "CaptureState", "Packet", "NULL_TREE", "Node"]
