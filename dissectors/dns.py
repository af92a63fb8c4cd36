"""DNS (RFC 1035), multicast DNS (RFC 6762, port 5353) and LLMNR (RFC 4795, port 5355).

Wire format: a 12-byte header (id, flags, four section counts), then the question section
(name, type, class) and three sections of resource records (name, type, class, TTL, data
length, data). Names are sequences of length-prefixed labels ending in a zero byte, or in a
two-byte pointer (top bits 11) to an earlier (or, in practice, any) place in the message.
Over TCP every message is preceded by a two-byte length (RFC 1035 4.2.2, RFC 7766).

Everything a packet says is hostile: names are bounded to the message (a pointer walk that
examines more bytes than the message has is a loop, shown as tshark shows it), a name longer
than 255 characters is shown as "<Name too long>", record data never runs past its length,
and a length that contradicts the message raises Malformed.

What tshark 4.0 derives is reproduced: the Info column ("Standard query 0x1a2b A example.com
OPT"), the Protocol column (DNS, MDNS, LLMNR), and the request/response matching of its first
pass, keyed by conversation (udp.stream / tcp.stream) and transaction id: dns.response_to and
dns.time on a response, dns.retransmit_request_in on a query repeated within 5 s before an
answer, dns.retransmit_response_in on a second answer, dns.unsolicited on an answer to nothing.
A frame dissected again (random access) reads the per-frame arrays written in the first pass
and, like Wireshark's second pass, also shows dns.response_in on a query once its answer was
seen. Record data of types without typed fields is rendered with dnspython's presentation
format.
"""
from __future__ import annotations

import struct
from array import array
from collections.abc import Callable

from .buffer import Buf, Malformed, Truncated
from .dispatch import TCP_PORT, UDP_PORT
from .tcp_reassembly import dissect_pdus
from .fields import FT, Base, Severity, bitfield_str, expert, field, ipv6_str, protocol
from .packet import Packet
from .tree import Tree

# ---------------------------------------------------------------------------------------
# Protocols and fields
# ---------------------------------------------------------------------------------------

PROTO = protocol("dns", "Domain Name System",
                 explain="Name lookups. Every connection to a host name starts with one; a "
                         "slow or failing lookup delays or breaks the request before any "
                         "TCP or TLS happens.")
PROTO_MDNS = protocol("mdns", "Multicast Domain Name System",
                      explain="Zero-configuration lookups of .local names on the LAN "
                              "(Bonjour/Avahi), sent to a multicast group on port 5353.")
PROTO_LLMNR = protocol("llmnr", "Link-local Multicast Name Resolution",
                       explain="Windows' fallback lookup of single-label names on the LAN, "
                               "port 5355. Seeing it means a name was not found in DNS.")

OPCODES = {0: "Standard query", 1: "Inverse query", 2: "Server status request",
           4: "Zone change notification", 5: "Dynamic update",
           6: "DNS Stateful operations (DSO)"}
RCODES = {0: "No error", 1: "Format error", 2: "Server failure", 3: "No such name",
          4: "Not implemented", 5: "Refused", 6: "Name exists", 7: "RRset exists",
          8: "RRset does not exist", 9: "Not authoritative", 10: "Name out of zone",
          16: "Bad OPT Version or TSIG Signature Failure", 17: "Key not recognized",
          18: "Signature out of time window", 19: "Bad TKEY mode", 20: "Duplicate key name",
          21: "Algorithm not supported", 22: "Bad truncation", 23: "Bad/missing server cookie"}
CLASSES = {1: "IN", 2: "CS", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
# Wireshark's descriptions, shown in the tree as "A (Host Address) (1)".
TYPE_DESCRIPTIONS = {
    1: "Host Address", 2: "authoritative Name Server", 3: "Mail Destination",
    4: "Mail Forwarder", 5: "Canonical NAME for an alias",
    6: "Start Of a zone of Authority", 7: "MailBox domain name", 8: "Mail Group member",
    9: "Mail Rename domain name", 10: "NULL RR", 11: "Well Known Service description",
    12: "domain name PoinTeR", 13: "host information", 14: "Mailbox or mail list information",
    15: "Mail eXchange", 16: "Text strings", 17: "Responsible Person",
    18: "AFS Data Base location", 19: "X.25 PSDN address", 20: "ISDN address",
    21: "Route Through", 22: "NSAP address", 23: "domain name pointer, NSAP style",
    24: "security signature", 25: "security key", 26: "X.400 mail mapping information",
    27: "Geographical Position", 28: "IPv6 Address", 29: "Location Information",
    30: "Next Domain", 33: "Server Selection", 35: "Naming Authority Pointer",
    36: "Key Exchanger", 37: "CERT", 38: "A6", 39: "DNAME", 41: "OPT", 42: "APL",
    43: "Delegation Signer", 44: "SSH Key Fingerprint", 45: "IPSECKEY",
    46: "Resource Record Signature", 47: "Next Secure", 48: "DNS Public Key",
    49: "DHCID", 50: "Next Secure v3", 51: "NSEC3 Parameters", 52: "TLSA",
    53: "S/MIME cert association", 55: "Host Identity Protocol", 59: "Child DS",
    60: "Child DNSKEY", 61: "OpenPGP Key", 62: "Child-to-Parent Synchronization",
    63: "Message Digest for DNS Zone", 64: "General Purpose Service Endpoints",
    65: "HTTPS Specific Service Endpoints", 99: "SPF", 104: "NodeID", 105: "L32", 106: "L64",
    107: "LP", 108: "EUI-48 address", 109: "EUI-64 address", 249: "Transaction Key",
    250: "Transaction Signature", 251: "incremental transfer", 252: "transfer of an entire zone",
    253: "mailbox-related RRs", 254: "mail agent RRs", 255: "A request for all records",
    256: "URI", 257: "Certification Authority Restriction",
    32768: "DNSSEC Trust Authorities", 32769: "DNSSEC Lookaside Validation",
    65281: "WINS", 65282: "WINS-R",
}
# IANA's mnemonics (RFC 6895 registry), as tshark prints them; dnspython's to_text agrees
# (tests/test_dissect_dns.py) except for WINS and WINS-R, which it does not know.
TYPE_MNEMONICS = {
    1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR",
    10: "NULL", 11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 19: "X25", 20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAP-PTR", 24: "SIG",
    25: "KEY", 26: "PX", 27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 33: "SRV", 35: "NAPTR",
    36: "KX", 37: "CERT", 38: "A6", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP",
    45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3",
    51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP", 59: "CDS", 60: "CDNSKEY",
    61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS", 99: "SPF", 104: "NID",
    105: "L32", 106: "L64", 107: "LP", 108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG",
    251: "IXFR", 252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA",
    32768: "TA", 32769: "DLV", 65281: "WINS", 65282: "WINS-R",
}


def type_name(t: int) -> str:
    """The short type name tshark prints in Info and labels ('A', 'Unknown (4000)')."""
    name = TYPE_MNEMONICS.get(t)
    return name if name is not None else f"Unknown ({t})"


class _TypeStrings(dict):
    """Value strings for the type fields: 'A (Host Address)', built on demand."""

    def get(self, t: int, default: str | None = None) -> str | None:  # type: ignore[override]
        desc = TYPE_DESCRIPTIONS.get(t)
        if desc is None:
            return default
        full = _TYPE_FULL.get(t)
        if full is not None:
            return full
        name = type_name(t)
        return name if desc == name else f"{name} ({desc})"


_TYPES = _TypeStrings()
# Where the tree's type text is not "NAME (description)".
_TYPE_FULL = {255: "* (A request for all records the server/cache has available)"}
_FLAG_TFS = {
    "response": ("Message is a response", "Message is a query"),
    "authoritative": ("Server is an authority for domain",
                      "Server is not an authority for domain"),
    "truncated": ("Message is truncated", "Message is not truncated"),
    "recdesired": ("Do query recursively", "Don't do query recursively"),
    "recavail": ("Server can do recursive queries", "Server can't do recursive queries"),
    "z": ("reserved - incorrect!", "reserved (0)"),
    "authenticated": ("Answer/authority portion was authenticated by the server",
                      "Answer/authority portion was not authenticated by the server"),
    "checkdisable": ("Acceptable", "Unacceptable"),
}

ID = field("dns.id", "Transaction ID", FT.UINT16, Base.HEX,
           blurb="Identification of transaction",
           explain="Chosen by the client and copied into the answer; the client matches "
                   "answers to questions by it (and by the port). A retry of the same "
                   "question often keeps the id.")
LENGTH = field("dns.length", "Length", FT.UINT16,
               blurb="Length of DNS-over-TCP request or response",
               explain="DNS over TCP prefixes each message with its length; clients fall "
                       "back to TCP when a UDP answer comes back truncated.")
FLAGS = field("dns.flags", "Flags", FT.UINT16, Base.HEX)
F_RESPONSE = field("dns.flags.response", "Response", FT.BOOLEAN, bitmask=0x8000,
                   tfs=_FLAG_TFS["response"], blurb="Is the message a response?",
                   explain="0 for a question, 1 for an answer.")
F_OPCODE = field("dns.flags.opcode", "Opcode", FT.UINT16, bitmask=0x7800, strings=OPCODES,
                 blurb="Operation code")
F_AUTHORITATIVE = field("dns.flags.authoritative", "Authoritative", FT.BOOLEAN,
                        bitmask=0x0400, tfs=_FLAG_TFS["authoritative"],
                        explain="Set when the answer comes from a server that owns the zone, "
                                "not from a resolver's cache.")
F_CONFLICT_Q = field("dns.flags.conflict", "Conflict", FT.BOOLEAN, bitmask=0x0400,
                     tfs=("The sender received multiple responses", "None"),
                     blurb="LLMNR: did the sender receive multiple responses?")
# LLMNR answers read the conflict bit differently (RFC 4795 2.1.1).
_CONFLICT_RESPONSE = {True: "The name is not considered unique",
                      False: "The name is considered unique"}
F_TRUNCATED = field("dns.flags.truncated", "Truncated", FT.BOOLEAN, bitmask=0x0200,
                    tfs=_FLAG_TFS["truncated"],
                    blurb="Is the message truncated?",
                    explain="The answer did not fit in the UDP datagram. The client should "
                            "ask again over TCP; if TCP/53 is blocked, the lookup fails. "
                            "EDNS with a larger payload size avoids the round trip.")
F_RECDESIRED = field("dns.flags.recdesired", "Recursion desired", FT.BOOLEAN,
                     bitmask=0x0100, tfs=_FLAG_TFS["recdesired"])
F_TENTATIVE = field("dns.flags.tentative", "Tentative", FT.BOOLEAN, bitmask=0x0100,
                    tfs=("Tentative", "Not tentative"))
F_RECAVAIL = field("dns.flags.recavail", "Recursion available", FT.BOOLEAN, bitmask=0x0080,
                   tfs=_FLAG_TFS["recavail"])
F_Z = field("dns.flags.z", "Z", FT.BOOLEAN, bitmask=0x0040, tfs=_FLAG_TFS["z"])
F_AUTHENTICATED = field("dns.flags.authenticated", "Answer authenticated", FT.BOOLEAN,
                        bitmask=0x0020, tfs=_FLAG_TFS["authenticated"],
                        explain="The resolver validated the answer with DNSSEC (AD bit).")
F_AD = field("dns.flags.ad", "AD bit", FT.BOOLEAN, bitmask=0x0020)
F_CHECKDISABLE = field("dns.flags.checkdisable", "Non-authenticated data", FT.BOOLEAN,
                       bitmask=0x0010, tfs=_FLAG_TFS["checkdisable"])
F_RCODE = field("dns.flags.rcode", "Reply code", FT.UINT16, bitmask=0x000F, strings=RCODES,
                blurb="Reply code",
                explain="0 NOERROR (an empty answer then means the name exists without "
                        "records of that type: NODATA), 2 SERVFAIL (the resolver could not "
                        "get an answer: upstream down or DNSSEC failure), 3 NXDOMAIN (the "
                        "name does not exist), 5 REFUSED (this server will not answer you).")
COUNT_QUERIES = field("dns.count.queries", "Questions", FT.UINT16,
                      blurb="Number of queries in packet")
COUNT_ZONES = field("dns.count.zones", "Zones", FT.UINT16,
                    blurb="Number of zones in packet (dynamic update)")
COUNT_ANSWERS = field("dns.count.answers", "Answer RRs", FT.UINT16,
                      blurb="Number of answers in packet",
                      explain="0 in a NOERROR answer is NODATA: the name exists but has no "
                              "record of the asked type (common for AAAA on IPv4-only hosts).")
COUNT_PREREQ = field("dns.count.prerequisites", "Prerequisites", FT.UINT16)
COUNT_AUTH = field("dns.count.auth_rr", "Authority RRs", FT.UINT16,
                   blurb="Number of authoritative records in packet")
COUNT_UPDATES = field("dns.count.updates", "Updates", FT.UINT16)
COUNT_ADD = field("dns.count.add_rr", "Additional RRs", FT.UINT16,
                  blurb="Number of additional records in packet")

QRY_NAME = field("dns.qry.name", "Name", FT.STRING, blurb="Query Name",
                 explain="The name asked for. A name with a search-list suffix appended "
                         "(db.svc.cluster.local) shows the resolver trying its search list.")
QRY_NAME_LEN = field("dns.qry.name.len", "Name Length", FT.UINT16, blurb="Query Name Len")
COUNT_LABELS = field("dns.count.labels", "Label Count", FT.UINT16,
                     blurb="Query Label Count")
QRY_TYPE = field("dns.qry.type", "Type", FT.UINT16, strings=_TYPES, blurb="Query Type",
                 explain="What is asked: A (IPv4 address), AAAA (IPv6), CNAME, MX, SRV, "
                         "TXT, HTTPS... Clients usually ask A and AAAA together.")
QRY_CLASS = field("dns.qry.class", "Class", FT.UINT16, Base.HEX, strings=CLASSES,
                  blurb="Query Class")
QRY_QU = field("dns.qry.qu", "\"QU\" question", FT.BOOLEAN, bitmask=0x8000,
               tfs=("True", "False"), blurb="QU flag: unicast response requested (mDNS)")

RESP_NAME = field("dns.resp.name", "Name", FT.STRING, blurb="Response Name")
RESP_TYPE = field("dns.resp.type", "Type", FT.UINT16, strings=_TYPES, blurb="Response Type")
RESP_CLASS = field("dns.resp.class", "Class", FT.UINT16, Base.HEX, strings=CLASSES,
                   blurb="Response Class")
RESP_CACHE_FLUSH = field("dns.resp.cache_flush", "Cache flush", FT.BOOLEAN, bitmask=0x8000,
                         tfs=("True", "False"), blurb="Cache flush flag (mDNS)")
RESP_TTL = field("dns.resp.ttl", "Time to live", FT.UINT32, blurb="Response TTL",
                 explain="How long caches may keep the record. Very short TTLs (seconds) "
                         "mean lookups on nearly every request; long ones delay failover.")
RESP_LEN = field("dns.resp.len", "Data length", FT.UINT16, blurb="Response Length")
RDATA = field("dns.resp.rdata", "Data", FT.STRING,
              blurb="Record data in presentation format (types without typed fields)")
DATA = field("dns.data", "Data", FT.BYTES, blurb="Record data that could not be decoded")

A = field("dns.a", "Address", FT.IPv4, blurb="Response Address",
          explain="An IPv4 address the name resolves to.")
AAAA = field("dns.aaaa", "AAAA Address", FT.IPv6, blurb="AAAA Response Address",
             explain="An IPv6 address the name resolves to. Clients that prefer IPv6 "
                     "connect here first (happy eyeballs).")
CNAME = field("dns.cname", "CNAME", FT.STRING, blurb="Response Primary Name",
              explain="An alias: the answer continues at this name. Long CNAME chains cost "
                      "lookups.")
NS = field("dns.ns", "Name Server", FT.STRING)
DNAME = field("dns.dname", "Dname", FT.STRING,
              explain="Redirects a whole subtree of names to another domain.")
NSEC_NEXT = field("dns.nsec.next_domain_name", "Next Domain Name", FT.STRING)
RR_TYPE = field("dns.rr.type", "RR type in bit map", FT.UINT16, strings=_TYPES,
                blurb="A record type the NSEC/NSEC3 bit map lists")
PTR = field("dns.ptr.domain_name", "Domain Name", FT.STRING,
            explain="The name a reverse (PTR) lookup of an address returned.")
MX_PREF = field("dns.mx.preference", "Preference", FT.UINT16)
MX_EXCHANGE = field("dns.mx.mail_exchange", "Mail Exchange", FT.STRING)
TXT_LENGTH = field("dns.txt.length", "TXT Length", FT.UINT8)
TXT = field("dns.txt", "TXT", FT.STRING)
SOA_MNAME = field("dns.soa.mname", "Primary name server", FT.STRING)
SOA_RNAME = field("dns.soa.rname", "Responsible authority's mailbox", FT.STRING)
SOA_SERIAL = field("dns.soa.serial_number", "Serial Number", FT.UINT32)
SOA_REFRESH = field("dns.soa.refresh_interval", "Refresh Interval", FT.UINT32)
SOA_RETRY = field("dns.soa.retry_interval", "Retry Interval", FT.UINT32)
SOA_EXPIRE = field("dns.soa.expire_limit", "Expire limit", FT.UINT32)
SOA_MINIMUM = field("dns.soa.minimum_ttl", "Minimum TTL", FT.UINT32,
                    explain="How long resolvers cache a negative answer (NXDOMAIN, NODATA) "
                            "for this zone: a name created later stays 'missing' this long.")
SRV_SERVICE = field("dns.srv.service", "Service", FT.STRING)
SRV_PROTO = field("dns.srv.proto", "Protocol", FT.STRING)
SRV_NAME = field("dns.srv.name", "Name", FT.STRING)
SRV_PRIORITY = field("dns.srv.priority", "Priority", FT.UINT16)
SRV_WEIGHT = field("dns.srv.weight", "Weight", FT.UINT16)
SRV_PORT = field("dns.srv.port", "Port", FT.UINT16)
SRV_TARGET = field("dns.srv.target", "Target", FT.STRING)
HINFO_CPU_LEN = field("dns.hinfo.cpu_length", "CPU Length", FT.UINT8)
HINFO_CPU = field("dns.hinfo.cpu", "CPU", FT.STRING)
HINFO_OS_LEN = field("dns.hinfo.os_length", "OS Length", FT.UINT8)
HINFO_OS = field("dns.hinfo.os", "OS", FT.STRING)
CAA_FLAGS = field("dns.caa.flags", "CAA Flags", FT.UINT8, Base.HEX)
CAA_CRITICAL = field("dns.caa.flags.issuer_critical", "Issuer Critical", FT.BOOLEAN,
                     bitmask=0x80, tfs=("Critical", "Not critical"))
CAA_ISSUE = field("dns.caa.issue", "Issue", FT.STRING)
CAA_ISSUEWILD = field("dns.caa.issuewild", "Issue Wildcard", FT.STRING)
CAA_IODEF = field("dns.caa.iodef", "Report URL", FT.STRING)
CAA_UNKNOWN = field("dns.caa.unknown", "Unknown tag", FT.STRING)
CAA_TAG_LEN = field("dns.caa.tag_length", "Tag length", FT.UINT8)
CAA_TAG = field("dns.caa.tag", "Tag", FT.STRING)
CAA_VALUE = field("dns.caa.value", "Value", FT.STRING)
NAPTR_ORDER = field("dns.naptr.order", "Order", FT.UINT16)
NAPTR_PREF = field("dns.naptr.preference", "Preference", FT.UINT16)
NAPTR_FLAGS_LEN = field("dns.naptr.flags_length", "Flags Length", FT.UINT8)
NAPTR_FLAGS = field("dns.naptr.flags", "Flags", FT.STRING)
NAPTR_SERVICE_LEN = field("dns.naptr.service_length", "Service Length", FT.UINT8)
NAPTR_SERVICE = field("dns.naptr.service", "Service", FT.STRING)
NAPTR_REGEX_LEN = field("dns.naptr.regex_length", "Regex Length", FT.UINT8)
NAPTR_REGEX = field("dns.naptr.regex", "Regex", FT.STRING)
NAPTR_REPL_LEN = field("dns.naptr.replacement_length", "Replacement Length", FT.UINT8)
NAPTR_REPL = field("dns.naptr.replacement", "Replacement", FT.STRING)
SVCB_PRIORITY = field("dns.svcb.svcpriority", "SvcPriority", FT.UINT16,
                      explain="0 means alias mode (go to TargetName); otherwise lower values "
                              "are preferred endpoints.")
SVCB_TARGET = field("dns.svcb.targetname", "TargetName", FT.STRING)
SVCB_PARAM = field("dns.svcb.svcparam", "SvcParam", FT.NONE)
SVCB_KEY = field("dns.svcb.svcparam.key", "SvcParamKey", FT.UINT16,
                 strings={0: "mandatory", 1: "alpn", 2: "no-default-alpn", 3: "port",
                          4: "ipv4hint", 5: "ech", 6: "ipv6hint", 7: "dohpath", 8: "ohttp"})
SVCB_VALUE_LEN = field("dns.svcb.svcparam.value.length", "SvcParamValue length", FT.UINT16)
SVCB_VALUE = field("dns.svcb.svcparam.value", "SvcParamValue", FT.BYTES)
SVCB_ALPN_LEN = field("dns.svcb.svcparam.alpn.length", "ALPN length", FT.UINT8)
SVCB_ALPN = field("dns.svcb.svcparam.alpn", "ALPN", FT.STRING,
                  explain="Application protocols the endpoint offers (h2, h3): a client "
                          "may go straight to HTTP/3 without an Alt-Svc round trip.")
SVCB_PORT = field("dns.svcb.svcparam.port", "Port", FT.UINT16)
SVCB_IPV4 = field("dns.svcb.svcparam.ipv4hint.ip", "IP", FT.IPv4)
SVCB_IPV6 = field("dns.svcb.svcparam.ipv6hint.ip", "IP", FT.IPv6)

RR_UDP_PAYLOAD = field("dns.rr.udp_payload_size", "UDP payload size", FT.UINT16,
                       explain="EDNS: the largest UDP answer this side accepts. Below the "
                               "answer's size the server truncates (TC=1) and the client "
                               "must retry over TCP; above the path MTU answers fragment, "
                               "and fragments are often dropped. 1232 is the safe default.")
RESP_EXT_RCODE = field("dns.resp.ext_rcode", "Higher bits in extended RCODE", FT.UINT8,
                       Base.HEX)
RESP_EDNS_VERSION = field("dns.resp.edns0_version", "EDNS0 version", FT.UINT8)
RESP_Z = field("dns.resp.z", "Z", FT.UINT16, Base.HEX)
RESP_Z_DO = field("dns.resp.z.do", "DO bit", FT.BOOLEAN, bitmask=0x8000,
                  tfs=("Accepts DNSSEC security RRs", "Cannot handle DNSSEC security RRs"),
                  explain="The client wants DNSSEC signatures in the answer (bigger "
                          "answers, more truncation).")
RESP_Z_RESERVED = field("dns.resp.z.reserved", "Reserved", FT.UINT16, Base.HEX,
                        bitmask=0x7FFF)
TSIG_ALGORITHM = field("dns.tsig.algorithm_name", "Algorithm Name", FT.STRING)
TSIG_TIME = field("dns.tsig.time_signed", "Time Signed", FT.ABSOLUTE_TIME)
TSIG_FUDGE = field("dns.tsig.fudge", "Fudge", FT.UINT16)
TSIG_MAC_SIZE = field("dns.tsig.mac_size", "MAC Size", FT.UINT16)
TSIG_MAC = field("dns.tsig.mac", "MAC", FT.NONE)
TSIG_ORIGINAL_ID = field("dns.tsig.original_id", "Original Id", FT.UINT16)
TSIG_ERROR = field("dns.tsig.error", "Error", FT.UINT16, strings=RCODES)
TSIG_OTHER_LEN = field("dns.tsig.other_len", "Other Len", FT.UINT16)
TSIG_OTHER_DATA = field("dns.tsig.other_data", "Other Data", FT.BYTES)
OPT = field("dns.opt", "Option", FT.NONE)
OPT_CODE = field("dns.opt.code", "Option Code", FT.UINT16, strings={
    1: "LLQ - Long-lived query", 2: "UL - Update lease",
    3: "NSID - Name Server Identifier", 4: "Owner (reserved)",
    5: "DAU - DNSSEC Algorithm Understood (RFC6975)",
    6: "DHU - DS Hash Understood (RFC6975)", 7: "N3U set - NSEC3 hash Understood",
    8: "CSUBNET - Client subnet", 9: "EDNS EXPIRE (RFC7314)", 10: "COOKIE",
    11: "EDNS TCP Keepalive", 12: "PADDING", 13: "CHAIN", 15: "Extended DNS Error", 20292: "Umbrella Ident", 26946: "DeviceID"})
OPT_LEN = field("dns.opt.len", "Option Length", FT.UINT16)
OPT_DATA = field("dns.opt.data", "Option Data", FT.BYTES)
OPT_FAMILY = field("dns.opt.client.family", "Family", FT.UINT16,
                   strings={1: "IPv4", 2: "IPv6"})
OPT_NETMASK = field("dns.opt.client.netmask", "Source Netmask", FT.UINT8)
OPT_SCOPE = field("dns.opt.client.scope", "Scope Netmask", FT.UINT8)
OPT_ADDR = field("dns.opt.client.addr", "Client Subnet", FT.BYTES)
OPT_ADDR4 = field("dns.opt.client.addr4", "Client Subnet", FT.IPv4,
                  explain="EDNS Client Subnet: the resolver tells the authoritative server "
                          "where the client is, so geo-DNS answers fit the client.")
OPT_ADDR6 = field("dns.opt.client.addr6", "Client Subnet", FT.IPv6)
OPT_COOKIE_CLIENT = field("dns.opt.cookie.client", "Client Cookie", FT.BYTES)
OPT_COOKIE_SERVER = field("dns.opt.cookie.server", "Server Cookie", FT.BYTES)
OPT_EDE_CODE = field("dns.opt.ext_error.info_code", "Info Code", FT.UINT16, strings={
    0: "Other Error", 1: "Unsupported DNSKEY Algorithm", 2: "Unsupported DS Digest Type",
    3: "Stale Answer", 4: "Forged Answer", 5: "DNSSEC Indeterminate", 6: "DNSSEC Bogus",
    7: "Signature Expired", 8: "Signature Not Yet Valid", 9: "DNSKEY Missing",
    10: "RRSIGs Missing", 11: "No Zone Key Bit Set", 12: "NSEC Missing",
    13: "Cached Error", 14: "Not Ready", 15: "Blocked", 16: "Censored", 17: "Filtered",
    18: "Prohibited", 19: "Stale NXDomain Answer", 20: "Not Authoritative",
    21: "Not Supported", 22: "No Reachable Authority", 23: "Network Error",
    24: "Invalid Data"},
    explain="Extended DNS Error (RFC 8914): why a resolver failed or filtered, beyond the "
            "4-bit reply code.")
OPT_EDE_TEXT = field("dns.opt.ext_error.extra_text", "Extra Text", FT.STRING)
OPT_PADDING = field("dns.opt.padding", "Padding", FT.BYTES)

RESPONSE_IN = field("dns.response_in", "Response In", FT.FRAMENUM,
                    blurb="The response to this DNS query is in this frame")
RESPONSE_TO = field("dns.response_to", "Request In", FT.FRAMENUM,
                    blurb="This is a response to the DNS query in this frame")
TIME = field("dns.time", "Time", FT.RELATIVE_TIME,
             blurb="The time between the Query and the Response",
             explain="How long the server took to answer, seen from the capture point. A "
                     "cache hit takes microseconds to a few ms; a recursive lookup tens "
                     "to hundreds of ms.")
RETRANSMISSION = field("dns.retransmission", "Retransmission", FT.BOOLEAN,
                       tfs=("True", "False"), blurb="This is a retransmission")
RETRANSMIT_REQUEST_IN = field("dns.retransmit_request_in",
                              "Retransmitted request. Original request in", FT.FRAMENUM)
RETRANSMIT_RESPONSE_IN = field("dns.retransmit_response_in",
                               "Retransmitted response. Original response in", FT.FRAMENUM)
UNSOLICITED = field("dns.unsolicited", "Unsolicited", FT.BOOLEAN, tfs=("True", "False"),
                    blurb="This is an unsolicited response")
EXTRANEOUS_DATA = field("dns.extraneous.data", "Extraneous Data Bytes", FT.BYTES)
EXTRANEOUS_LENGTH = field("dns.extraneous.length", "Extraneous Data Length", FT.INT32)

RETRANSMIT_REQUEST = expert(
    "dns.retransmit_request", "protocol", Severity.WARN, "DNS query retransmission",
    explain="The client asked the same question again (same id) before an answer came: "
            "the first query or its answer was lost, or the server was slow. Stub resolvers "
            "wait 1-5 s before retrying, so each retry is seconds of delay.")
RETRANSMIT_RESPONSE = expert(
    "dns.retransmit_response", "protocol", Severity.WARN, "DNS response retransmission",
    explain="A second answer to the same query: the server answered a retransmitted query "
            "too, or the network duplicated the datagram.")
TSIG_NOALG = expert("dns.tsig.noalg", "undecoded", Severity.WARN,
                    "No dissector for algorithm",
                    explain="The message is signed (TSIG, typically zone transfers and "
                            "dynamic updates); wirelens shows the MAC but does not verify it.")
EXTRANEOUS = expert("dns.extraneous", "malformed", Severity.WARN, "Extraneous data",
                    explain="Bytes after the last record the counts announce.")

# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------

MAX_NAME = 255
MAX_HOPS = 255   # compression pointers followed for one name (a legal name needs < 128)
ROOT = "<Root>"
LOOP = "<Name contains a pointer that loops>"
TOO_LONG = "<Name too long>"
_C_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}


_PRINTABLE = bytes(range(32, 127))


def _name_text(raw: bytes) -> str:
    """A name as tshark shows it: UTF-8 (invalid bytes as U+FFFD), control bytes escaped
    C-style or in octal; a dot inside a label is not escaped."""
    if not raw.translate(None, _PRINTABLE):
        return raw.decode("ascii")
    out = []
    for ch in raw.decode("utf-8", "replace"):
        c = ord(ch)
        if c < 32 or c == 127:
            out.append(_C_ESCAPES.get(c) or f"\\{c:03o}")
        else:
            out.append(ch)
    return "".join(out)


def read_name(data: bytes, pos: int, base: int, end: int) -> tuple[str, int, int]:
    """The name at `pos` of the message data[base:end]: (text, bytes it takes at `pos`,
    tshark's name length: label bytes plus dots, or the length of a placeholder text).

    Pointers are offsets from `base` and may point anywhere in the message. The walk
    examines at most as many bytes as the message has; going further means a pointer
    loop. Bytes past `end` are Malformed, past the capture Truncated.
    """
    captured = len(data)
    labels: list[bytes] = []
    raw_len = -1
    used = -1              # bytes at `pos`, fixed at the first pointer
    budget = end - base    # bytes the walk may examine before it must be a loop
    p = pos
    special = ""
    hops = 0
    while True:
        if p >= end or p < base:
            raise Malformed(f"DNS name runs past the message at {p}")
        if p >= captured:
            raise Truncated("DNS name not captured")
        n = data[p]
        kind = n & 0xC0
        if n == 0:
            p += 1
            break
        if kind == 0xC0:
            if p + 1 >= end:
                raise Malformed("DNS compression pointer cut by the message end")
            if p + 1 >= captured:
                raise Truncated("DNS compression pointer not captured")
            if used < 0:
                used = p + 2 - pos
            budget -= 2
            hops += 1
            if budget < 0 or hops > MAX_HOPS:
                special = LOOP
                break
            if special:
                break   # too long already, and its length at `pos` is known
            p = base + ((n & 0x3F) << 8 | data[p + 1])
            continue
        if kind:
            # Extended label types (RFC 6891 retired them): the label's length is unknown,
            # so the rest of the message cannot be read, as tshark finds.
            raise Malformed(f"DNS extended label type 0x{n:02x}")
        if p + 1 + n > end:
            raise Malformed(f"DNS label of {n} bytes runs past the message")
        if p + 1 + n > captured:
            raise Truncated("DNS label not captured")
        budget -= n + 1
        if budget < 0:
            special = LOOP
            break
        if special:
            if used >= 0:
                break   # too long, and its length at `pos` is known: stop walking
        else:
            raw_len += n + 1
            if raw_len > MAX_NAME:
                special = TOO_LONG
            else:
                labels.append(data[p + 1:p + 1 + n])
        p += 1 + n
    if used < 0:
        used = p - pos
    if not special and not labels:
        special = ROOT
    if special:
        return special, used, len(special)
    return _name_text(b".".join(labels)), used, raw_len


def _label_count(name: str) -> int:
    return name.count(".") + 1 if name else 0


# ---------------------------------------------------------------------------------------
# Transactions (tshark's request/response matching, first pass)
# ---------------------------------------------------------------------------------------

RETRANSMISSION_TIMER_NS = 5 * 10**9   # Wireshark's dns.retransmission_timer default
_MULTI = 2     # transaction flag: a zone transfer, whose several answers are normal
_MAX_TRANSACTIONS = 1 << 22


class DnsState:
    """Per-capture DNS state: a transaction table and what each frame showed.

    Transactions are parallel arrays (request frame, response frame, request time, flags),
    one entry per query that opened one, so memory grows with queries, not packets. `latest`
    maps (conversation, id) to the newest transaction, which is the one tshark's
    `lookup32_array_le` finds on an in-order pass. Frames record their transaction and
    whether they were a retransmission, in per-frame arrays (and a small dict for the
    second and later DNS messages of one TCP segment).
    """

    def __init__(self) -> None:
        self.req = array("I")
        self.rep = array("I")
        self.req_ts = array("q")
        self.tflags = bytearray()
        self.latest: dict[tuple[int, int, int], int] = {}
        self.frame_tx = array("i", [-1])
        self.frame_retrans = bytearray(1)
        self.extra: dict[tuple[int, int], tuple[int, int]] = {}

    def _store(self, number: int, nth: int, tx: int, retrans: bool) -> None:
        if nth:
            if len(self.extra) < _MAX_TRANSACTIONS:
                self.extra[(number, nth)] = (tx, int(retrans))
            return
        ft = self.frame_tx
        if len(ft) <= number:
            grow = number + 1 - len(ft) + 1024
            ft.extend([-1] * grow)
            self.frame_retrans.extend(bytes(grow))
        ft[number] = tx
        self.frame_retrans[number] = int(retrans)

    def recall(self, number: int, nth: int) -> tuple[int, bool]:
        if nth:
            tx, r = self.extra.get((number, nth), (-1, 0))
            return tx, bool(r)
        if number < len(self.frame_tx):
            return self.frame_tx[number], bool(self.frame_retrans[number])
        return -1, False

    def zone_transfer(self, tx: int, multi: bool) -> None:
        """Record whether the transaction's question is a zone transfer (AXFR/IXFR), whose
        several answers are normal, as the last question dissected says (tshark's rule)."""
        if multi:
            self.tflags[tx] |= _MULTI
        else:
            self.tflags[tx] &= ~_MULTI & 0xFF

    def match(self, pkt: Packet, nth: int, conv: tuple[int, int], tid: int,
              response: bool) -> tuple[int, bool]:
        """First pass: the frame's transaction (or -1) and whether it is a retransmission,
        following tshark's rules; a visited frame reads what was stored."""
        if pkt.visited:
            return self.recall(pkt.number, nth)
        key = (conv[0], conv[1], tid)
        tx = self.latest.get(key, -1)
        retrans = False
        if not response:
            if tx < 0 or self.rep[tx] or pkt.ts_ns - self.req_ts[tx] >= RETRANSMISSION_TIMER_NS:
                if len(self.req) >= _MAX_TRANSACTIONS:
                    return -1, False
                tx = len(self.req)
                self.req.append(pkt.number)
                self.rep.append(0)
                self.req_ts.append(pkt.ts_ns)
                self.tflags.append(0)
                self.latest[key] = tx
            else:
                retrans = True
        elif tx >= 0:
            if not self.rep[tx]:
                self.rep[tx] = pkt.number
            elif not self.tflags[tx] & _MULTI:
                retrans = True
        self._store(pkt.number, nth, tx, retrans)
        return tx, retrans


# ---------------------------------------------------------------------------------------
# The message
# ---------------------------------------------------------------------------------------

_HDR = struct.Struct("!HHHHHH").unpack_from
_U16 = struct.Struct("!H").unpack_from
_U32 = struct.Struct("!I").unpack_from
_RR_FIXED = struct.Struct("!HHIH").unpack_from
_QTYPE_CLASS = struct.Struct("!HH").unpack_from
T_OPT, T_AXFR, T_IXFR = 41, 252, 251
OPCODE_UPDATE = 5
DNS, MDNS, LLMNR = 0, 1, 2
_PROTO_NAMES = ("DNS", "MDNS", "LLMNR")
_PROTO_SPECS = (PROTO, PROTO_MDNS, PROTO_LLMNR)
_PROTO_LABELS = ("Domain Name System", "Multicast Domain Name System",
                 "Link-local Multicast Name Resolution")
_LAYER = ("dns", "mdns", "llmnr")


class _Msg:
    """What one message's records need while it is dissected."""

    __slots__ = ("base", "buf", "data", "end", "kind", "pkt")

    def __init__(self, buf: Buf, base: int, end: int, kind: int, pkt: Packet) -> None:
        self.buf = buf
        self.data = buf.data
        self.base = base
        self.end = end
        self.kind = kind
        self.pkt = pkt

    def need(self, pos: int, n: int, end: int | None = None) -> None:
        self.buf.need_within(pos, n, self.end if end is None else end)

    def name(self, pos: int, end: int | None = None) -> tuple[str, int]:
        """A name inside [pos, end): compression may point anywhere in the message, but the
        bytes at pos must stay within end (the record's data)."""
        name, used, _ = read_name(self.data, pos, self.base, self.end)
        if end is not None and pos + used > end:
            raise Malformed("DNS name runs past its record's data")
        return name, used


def _time_str(secs: int) -> str:
    """Wireshark's unsigned_time_secs_to_str: '1 day, 2 hours, 5 minutes, 1 second'."""
    if secs == 0:
        return "0 seconds"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, secs = divmod(secs, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return ", ".join(parts)


def _class_str(cls: int) -> str:
    return CLASSES.get(cls, "Unknown")


def _add_flags(t: Tree, off: int, flags: int, kind: int) -> None:
    """The Flags item and its bits, in tshark's order for DNS/mDNS or LLMNR."""
    opcode, rcode, response = flags >> 11 & 15, flags & 15, bool(flags & 0x8000)
    text = f"Flags: 0x{flags:04x} {OPCODES.get(opcode, 'Unknown operation')}"
    if response:
        text += f" response, {RCODES.get(rcode, 'Unknown error')}"
    f = t.add(FLAGS, off, 2, flags, text)
    f.add_bits(F_RESPONSE, off, 2, flags)
    f.add_bits(F_OPCODE, off, 2, flags)
    if kind == LLMNR:
        conflict = f.add_bits(F_CONFLICT_Q, off, 2, flags)
        if response:
            value = _CONFLICT_RESPONSE[bool(flags & 0x0400)]
            conflict.label = f"{bitfield_str(F_CONFLICT_Q, flags, 16)} = Conflict: {value}"
        f.add_bits(F_TRUNCATED, off, 2, flags)
        f.add_bits(F_TENTATIVE, off, 2, flags)
        if response:
            f.add_bits(F_RCODE, off, 2, flags)
        return
    if response:
        f.add_bits(F_AUTHORITATIVE, off, 2, flags)
    f.add_bits(F_TRUNCATED, off, 2, flags)
    f.add_bits(F_RECDESIRED, off, 2, flags)
    if response:
        f.add_bits(F_RECAVAIL, off, 2, flags)
    f.add_bits(F_Z, off, 2, flags)
    if response:
        f.add_bits(F_AUTHENTICATED, off, 2, flags)
    elif flags & 0x0020:
        f.add_bits(F_AD, off, 2, flags)
    f.add_bits(F_CHECKDISABLE, off, 2, flags)
    if response:
        f.add_bits(F_RCODE, off, 2, flags)


def _query(m: _Msg, pos: int, t: Tree) -> tuple[int, int]:
    """One question: name, type, class. Returns (next position, qtype)."""
    name, used, name_len = read_name(m.data, pos, m.base, m.end)
    m.need(pos + used, 4)
    qtype, qclass = _QTYPE_CLASS(m.data, pos + used)
    tname = type_name(qtype)
    mdns = m.kind == MDNS
    qu = ""
    if mdns:
        qu = ', "QU" question' if qclass & 0x8000 else ', "QM" question'
    m.pkt.append_info(f"{tname} {name}{qu}")
    if t:
        cls = qclass & 0x7FFF if mdns else qclass
        q = t.add_text(pos, used + 4, f"{name}: type {tname}, class {_class_str(cls)}{qu}")
        q.add(QRY_NAME, pos, used, name)
        q.add(QRY_NAME_LEN, pos, used, name_len, generated=True)
        q.add(COUNT_LABELS, pos, used, _label_count(name), generated=True)
        q.add(QRY_TYPE, pos + used, 2, qtype)
        if mdns:
            # tshark's mDNS class item is dns.qry.class without the QU bit
            q.add(QRY_CLASS, pos + used + 2, 2, cls,
                  f"{_bitpic(qclass, 0x7FFF)} = Class: {_class_str(cls)} (0x{cls:04x})")
            q.add_bits(QRY_QU, pos + used + 2, 2, qclass)
        else:
            q.add(QRY_CLASS, pos + used + 2, 2, qclass)
    return pos + used + 4, qtype


def _bitpic(raw: int, mask: int) -> str:
    bits = []
    for i in range(15, -1, -1):
        bits.append(("1" if raw >> i & 1 else "0") if mask >> i & 1 else ".")
        if i % 4 == 0 and i:
            bits.append(" ")
    return "".join(bits)


# -- record data ------------------------------------------------------------------------
# An rdata dissector adds the typed fields of one record and returns the text it appends
# to the Info column and the text it appends to the record's label. It must stay within
# [pos, end) (the record's data), checked with m.need(..., end).
RdataFn = Callable[[_Msg, int, int, Tree, str], tuple[str, str]]


def _rd_a(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    m.need(pos, 4, end)
    addr = m.data[pos:pos + 4]
    text = f"{addr[0]}.{addr[1]}.{addr[2]}.{addr[3]}"
    if t:
        t.add(A, pos, 4, bytes(addr))
    return text, f", addr {text}"


def _rd_aaaa(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    m.need(pos, 16, end)
    raw = bytes(m.data[pos:pos + 16])
    text = ipv6_str(raw)
    if t:
        t.add(AAAA, pos, 16, raw)
    return text, f", addr {text}"


def _rd_name(spec, label: str) -> RdataFn:
    def rd(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
        name, used = m.name(pos, end)
        if t:
            t.add(spec, pos, used, name)
        return name, f", {label}{name}"
    return rd


def _rd_soa(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    mname, u1 = m.name(pos, end)
    rname, u2 = m.name(pos + u1, end)
    p = pos + u1 + u2
    m.need(p, 20, end)
    if t:
        t.add(SOA_MNAME, pos, u1, mname)
        t.add(SOA_RNAME, pos + u1, u2, rname)
        serial = _U32(m.data, p)[0]
        t.add(SOA_SERIAL, p, 4, serial)
        for i, spec in enumerate((SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, SOA_MINIMUM), 1):
            v = _U32(m.data, p + 4 * i)[0]
            t.add(spec, p + 4 * i, 4, v, f"{spec.name}: {v} ({_time_str(v)})")
    return mname, f", mname {mname}"


def _rd_mx(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    m.need(pos, 2, end)
    pref = _U16(m.data, pos)[0]
    name, used = m.name(pos + 2, end)
    if t:
        t.add(MX_PREF, pos, 2, pref)
        t.add(MX_EXCHANGE, pos + 2, used, name)
    return f"{pref} {name}", f", preference {pref}, mx {name}"


def _strings(m: _Msg, pos: int, end: int) -> list[tuple[int, bytes]]:
    """<character-string>s filling [pos, end): (position, bytes) each."""
    out = []
    while pos < end:
        m.need(pos, 1, end)
        n = m.data[pos]
        m.need(pos + 1, n, end)
        out.append((pos, bytes(m.data[pos + 1:pos + 1 + n])))
        pos += 1 + n
    return out


def _text(raw: bytes, utf8: bool = True) -> str:
    if raw.isascii():
        return raw.decode("ascii")
    return raw.decode("utf-8" if utf8 else "ascii", "replace")


def _rd_txt(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    for p, raw in _strings(m, pos, end):
        if t:
            t.add(TXT_LENGTH, p, 1, len(raw))
            t.add(TXT, p + 1, len(raw), _text(raw, m.kind == MDNS))
    return "", ""


def _rd_hinfo(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    parts = _strings(m, pos, end)
    if len(parts) < 2:
        raise Malformed("HINFO needs two strings")
    (p1, cpu), (p2, os_) = parts[:2]
    c, o = _text(cpu), _text(os_)
    if t:
        t.add(HINFO_CPU_LEN, p1, 1, len(cpu))
        t.add(HINFO_CPU, p1 + 1, len(cpu), c)
        t.add(HINFO_OS_LEN, p2, 1, len(os_))
        t.add(HINFO_OS, p2 + 1, len(os_), o)
    return f"{c} {o}", f", CPU {c}, OS {o}"


def _rd_srv(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    m.need(pos, 6, end)
    prio, weight, port = struct.unpack_from("!HHH", m.data, pos)
    target, used = m.name(pos + 6, end)
    if t:
        t.add(SRV_PRIORITY, pos, 2, prio)
        t.add(SRV_WEIGHT, pos + 2, 2, weight)
        t.add(SRV_PORT, pos + 4, 2, port)
        t.add(SRV_TARGET, pos + 6, used, target)
    return (f"{prio} {weight} {port} {target}",
            f", priority {prio}, weight {weight}, port {port}, target {target}")


def _rd_naptr(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    m.need(pos, 4, end)
    order, pref = struct.unpack_from("!HH", m.data, pos)
    strings = []
    p = pos + 4
    for _ in range(3):
        m.need(p, 1, end)
        n = m.data[p]
        m.need(p + 1, n, end)
        strings.append((p, bytes(m.data[p + 1:p + 1 + n])))
        p += 1 + n
    repl, used = m.name(p, end)
    flags = _text(strings[0][1])
    if t:
        t.add(NAPTR_ORDER, pos, 2, order)
        t.add(NAPTR_PREF, pos + 2, 2, pref)
        for (sp, raw), (lspec, vspec) in zip(strings, ((NAPTR_FLAGS_LEN, NAPTR_FLAGS),
                                                      (NAPTR_SERVICE_LEN, NAPTR_SERVICE),
                                                      (NAPTR_REGEX_LEN, NAPTR_REGEX))):
            t.add(lspec, sp, 1, len(raw))
            t.add(vspec, sp + 1, len(raw), _text(raw))
        t.add(NAPTR_REPL_LEN, p, used, len(repl), generated=True)
        t.add(NAPTR_REPL, p, used, repl)
    return f"{order} {pref} {flags}", f", order {order}, preference {pref}, flags {flags}"


_CAA_TAGS = {"issue": CAA_ISSUE, "issuewild": CAA_ISSUEWILD, "iodef": CAA_IODEF}


def _rd_caa(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    m.need(pos, 2, end)
    flags, taglen = m.data[pos], m.data[pos + 1]
    m.need(pos + 2, taglen, end)
    tag = _text(bytes(m.data[pos + 2:pos + 2 + taglen]))
    vpos = pos + 2 + taglen
    value = _text(bytes(m.data[vpos:end])) if vpos <= end else ""
    if t:
        f = t.add(CAA_FLAGS, pos, 1, flags)
        f.add(CAA_CRITICAL, pos, 1, bool(flags & 0x80),
              f"{'1' if flags & 0x80 else '0'}... .... = Issuer Critical: "
              f"{'Critical' if flags & 0x80 else 'Not critical'}")
        spec = _CAA_TAGS.get(tag, CAA_UNKNOWN)
        v = t.add(spec, pos + 1, end - pos - 1, value)
        v.add(CAA_TAG_LEN, pos + 1, 1, taglen)
        v.add(CAA_TAG, pos + 2, taglen, tag)
        v.add(CAA_VALUE, vpos, max(0, end - vpos), value)
    return "", ""


def _rd_svcb(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    """SVCB/HTTPS (RFC 9460): priority, target, then key/length/value parameters; each
    value is rendered by dnspython's presentation format."""
    m.need(pos, 2, end)
    prio = _U16(m.data, pos)[0]
    target, used = m.name(pos + 2, end)
    if t:
        t.add(SVCB_PRIORITY, pos, 2, prio)
        t.add(SVCB_TARGET, pos + 2, used, target)
    p = pos + 2 + used
    while p < end:
        m.need(p, 4, end)
        key, vlen = struct.unpack_from("!HH", m.data, p)
        m.need(p + 4, vlen, end)
        value = bytes(m.data[p + 4:p + 4 + vlen])
        if t:
            text = _svc_param_text(key, value)
            n = t.add(SVCB_PARAM, p, 4 + vlen, None, f"SvcParam: {text}")
            n.add(SVCB_KEY, p, 2, key)
            n.add(SVCB_VALUE_LEN, p + 2, 2, vlen)
            _svc_param_fields(n, key, p + 4, value)
        p += 4 + vlen
    return "", ""


def _svc_param_text(key: int, value: bytes) -> str:
    """'alpn=h2,h3', 'port=8443'... through dnspython; undecodable values as hex."""
    import dns.exception
    import dns.rdtypes.svcbbase as svcb
    import dns.wire
    try:
        cls = svcb._class_for_key.get(key, svcb.GenericParam)
        param = cls.from_wire_parser(dns.wire.Parser(value))
        text = param.to_text()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
    except (dns.exception.DNSException, ValueError, TypeError, KeyError, IndexError,
            UnicodeError):
        text = value.hex()
    keyname = svcb.key_to_text(key)
    return f"{keyname}={text}" if text else keyname


def _svc_param_fields(n: Tree, key: int, pos: int, value: bytes) -> None:
    if key == 1:
        p = 0
        while p < len(value):
            ln = value[p]
            n.add(SVCB_ALPN_LEN, pos + p, 1, ln)
            n.add(SVCB_ALPN, pos + p + 1, ln, _text(value[p + 1:p + 1 + ln]))
            p += 1 + ln
    elif key == 3 and len(value) == 2:
        n.add(SVCB_PORT, pos, 2, _U16(value, 0)[0])
    elif key == 4:
        for i in range(0, len(value) - 3, 4):
            n.add(SVCB_IPV4, pos + i, 4, value[i:i + 4])
    elif key == 6:
        for i in range(0, len(value) - 15, 16):
            n.add(SVCB_IPV6, pos + i, 16, value[i:i + 16])
    else:
        n.add(SVCB_VALUE, pos, len(value), value)


def _rd_generic(m: _Msg, pos: int, end: int, t: Tree, rtype: int, rclass: int) -> None:
    """Any other type: dnspython's presentation text, or the bytes when it cannot parse."""
    if not t:
        return
    import dns.exception
    import dns.rdata
    import dns.wire
    try:
        parser = dns.wire.Parser(bytes(m.data[m.base:m.end]), pos - m.base)
        with parser.restrict_to(end - pos):
            rd = dns.rdata.from_wire_parser(rclass & 0x7FFF, rtype, parser)
        text = None if isinstance(rd, dns.rdata.GenericRdata) else rd.to_text()
    except (dns.exception.DNSException, ValueError, TypeError, KeyError, IndexError,
            UnicodeError, struct.error):
        text = None
    if text is None:
        t.add(DATA, pos, end - pos, bytes(m.data[pos:min(end, len(m.data))]))
    else:
        t.add(RDATA, pos, end - pos, text)


def _rd_tsig(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    """TSIG (RFC 8945): algorithm, time signed (48 bits), fudge, MAC, original id, error,
    other data."""
    alg, used = m.name(pos, end)
    p = pos + used
    m.need(p, 10, end)
    hi, lo, fudge, mac_size = struct.unpack_from("!HIHH", m.data, p)
    m.need(p + 10, mac_size + 6, end)
    q = p + 10 + mac_size
    orig, err, other_len = struct.unpack_from("!HHH", m.data, q)
    m.need(q + 6, other_len, end)
    if t:
        t.add(TSIG_ALGORITHM, pos, used, alg)
        t.add(TSIG_TIME, p, 6, (hi << 32 | lo, 0))
        t.add(TSIG_FUDGE, p + 6, 2, fudge)
        t.add(TSIG_MAC_SIZE, p + 8, 2, mac_size)
        if mac_size:
            t.add(TSIG_MAC, p + 10, mac_size, None, "MAC").add_expert(
                TSIG_NOALG, p + 10, mac_size, f"No dissector for algorithm:{alg}")
        t.add(TSIG_ORIGINAL_ID, q, 2, orig)
        t.add(TSIG_ERROR, q + 2, 2, err)
        t.add(TSIG_OTHER_LEN, q + 4, 2, other_len)
        if other_len:
            t.add(TSIG_OTHER_DATA, q + 6, other_len, bytes(m.data[q + 6:q + 6 + other_len]))
    if mac_size:
        m.pkt.note(TSIG_NOALG)
    return "", ""


def _rd_nsec(m: _Msg, pos: int, end: int, t: Tree, owner: str) -> tuple[str, str]:
    """NSEC (RFC 4034 4.1): the next owner name, then the types present as window blocks of
    bits. mDNS compresses the name (RFC 6762 18.14), so our reader, not dnspython's."""
    name, used = m.name(pos, end)
    if t:
        t.add(NSEC_NEXT, pos, used, name)
        p = pos + used
        while p < end:
            m.need(p, 2, end)
            window, n = m.data[p], m.data[p + 1]
            m.need(p + 2, n, end)
            for i in range(n):
                byte = m.data[p + 2 + i]
                for bit in range(8):
                    if byte & 0x80 >> bit:
                        rtype = window << 8 | i << 3 | bit
                        desc = TYPE_DESCRIPTIONS.get(rtype)
                        t.add(RR_TYPE, p + 2 + i, 1, rtype, f"RR type in bit map: "
                              f"{type_name(rtype)} ({desc})" if desc else None)
            p += 2 + n
    return name, f", next domain name {name}"


RDATA_FNS: dict[int, RdataFn] = {
    1: _rd_a, 2: _rd_name(NS, "ns "), 5: _rd_name(CNAME, "cname "), 6: _rd_soa,
    12: _rd_name(PTR, ""), 13: _rd_hinfo, 15: _rd_mx, 16: _rd_txt, 28: _rd_aaaa,
    33: _rd_srv, 39: _rd_name(DNAME, "dname "), 47: _rd_nsec, 250: _rd_tsig, 35: _rd_naptr, 64: _rd_svcb, 65: _rd_svcb, 257: _rd_caa,
}
# Types whose Info text is the owner name (Wireshark's habit for these).
_INFO_OWNER = frozenset((3, 4, 7, 8, 9, 10, 14, 17, 18, 19, 20, 21, 22, 23, 26, 27, 52))
# Types whose Info text is the first name in the data (NXT).
_INFO_FIRST_NAME = frozenset((30,))


def _opt(m: _Msg, pos: int, used: int, t: Tree, rclass: int, ttl: int, dlen: int) -> None:
    """The EDNS OPT pseudo-record (RFC 6891): class is the UDP payload size, TTL holds the
    extended rcode, version and DO bit; the data are options."""
    rr = t
    p0 = pos + used
    rr.add(RR_UDP_PAYLOAD, p0 + 2, 2, rclass)
    rr.add(RESP_EXT_RCODE, p0 + 4, 1, ttl >> 24 & 255)
    rr.add(RESP_EDNS_VERSION, p0 + 5, 1, ttl >> 16 & 255)
    z = ttl & 0xFFFF
    zn = rr.add(RESP_Z, p0 + 6, 2, z)
    zn.add_bits(RESP_Z_DO, p0 + 6, 2, z)
    zn.add_bits(RESP_Z_RESERVED, p0 + 6, 2, z)
    rr.add(RESP_LEN, p0 + 8, 2, dlen)
    p, end = p0 + 10, p0 + 10 + dlen
    while p < end:
        m.need(p, 4)
        code, olen = struct.unpack_from("!HH", m.data, p)
        label = OPT_CODE.strings.get(code, f"Unknown ({code})")  # type: ignore[union-attr]
        o = rr.add(OPT, p, 4 + olen, None, f"Option: {label}")
        o.add(OPT_CODE, p, 2, code)
        o.add(OPT_LEN, p + 2, 2, olen)
        m.need(p + 4, olen)
        value = bytes(m.data[p + 4:p + 4 + olen])
        if olen:
            o.add(OPT_DATA, p + 4, olen, value)
        _OPTION_FNS.get(code, _opt_none)(o, p + 4, value)
        p += 4 + olen


def _opt_none(o: Tree, pos: int, value: bytes) -> None:
    return None


def _opt_ecs(o: Tree, pos: int, value: bytes) -> None:
    if len(value) < 4:
        return
    family, src, scope = struct.unpack_from("!HBB", value, 0)
    o.add(OPT_FAMILY, pos, 2, family)
    o.add(OPT_NETMASK, pos + 2, 1, src)
    o.add(OPT_SCOPE, pos + 3, 1, scope)
    addr = value[4:]
    if family == 1 and len(addr) <= 4:
        o.add(OPT_ADDR4, pos + 4, len(addr), addr + bytes(4 - len(addr)))
    elif family == 2 and len(addr) <= 16:
        o.add(OPT_ADDR6, pos + 4, len(addr), addr + bytes(16 - len(addr)))
    else:
        o.add(OPT_ADDR, pos + 4, len(addr), addr)


def _opt_cookie(o: Tree, pos: int, value: bytes) -> None:
    o.add(OPT_COOKIE_CLIENT, pos, min(8, len(value)), value[:8])
    if len(value) > 8:
        o.add(OPT_COOKIE_SERVER, pos + 8, len(value) - 8, value[8:])
    else:
        o.add_text(pos, 0, "Server Cookie: <MISSING>")


def _opt_ede(o: Tree, pos: int, value: bytes) -> None:
    if len(value) >= 2:
        o.add(OPT_EDE_CODE, pos, 2, _U16(value, 0)[0])
        if len(value) > 2:
            o.add(OPT_EDE_TEXT, pos + 2, len(value) - 2, _text(value[2:]))


def _opt_padding(o: Tree, pos: int, value: bytes) -> None:
    o.add(OPT_PADDING, pos, len(value), value)


_OPTION_FNS: dict[int, Callable[[Tree, int, bytes], None]] = {
    8: _opt_ecs, 10: _opt_cookie, 12: _opt_padding, 15: _opt_ede}


def _record(m: _Msg, pos: int, t: Tree) -> int:
    """One resource record; returns the position after it."""
    owner, used = m.name(pos)
    m.need(pos + used, 10)
    rtype, rclass, ttl, dlen = _RR_FIXED(m.data, pos + used)
    pkt = m.pkt
    tname = type_name(rtype)
    mdns = m.kind == MDNS
    flush = mdns and bool(rclass & 0x8000)
    cls = rclass & 0x7FFF if mdns else rclass
    pkt.append_info(tname + (", cache flush" if flush else ""))
    dpos = pos + used + 10
    dend = dpos + dlen
    rr = t
    if t:
        if rtype == T_OPT:
            rr = t.add_text(pos, used + 10 + dlen, f"{owner}: type {tname}")
        else:
            rr = t.add_text(pos, used + 10 + dlen,
                            f"{owner}: type {tname}, class {_class_str(cls)}"
                            + (", cache flush" if flush else ""))
        _owner_fields(rr, pos, used, owner, rtype)
        rr.add(RESP_TYPE, pos + used, 2, rtype)
        if rtype == T_OPT:
            _opt(m, pos, used, rr, rclass, ttl, dlen)
            return dend
        if mdns:
            rr.add(RESP_CLASS, pos + used + 2, 2, cls,
                   f"{_bitpic(rclass, 0x7FFF)} = Class: {_class_str(cls)} (0x{cls:04x})")
            rr.add_bits(RESP_CACHE_FLUSH, pos + used + 2, 2, rclass)
        else:
            rr.add(RESP_CLASS, pos + used + 2, 2, rclass)
        rr.add(RESP_TTL, pos + used + 4, 4, ttl, f"Time to live: {ttl} ({_time_str(ttl)})")
        rr.add(RESP_LEN, pos + used + 8, 2, dlen)
    if dlen == 0 or rtype == T_OPT:
        if rtype == T_OPT and dend > m.end:
            raise Malformed("OPT data runs past the message")
        return dend
    if dend > m.end:
        raise Malformed(f"record data of {dlen} bytes runs past the message")
    fn = RDATA_FNS.get(rtype)
    if fn is not None:
        info, label = fn(m, dpos, dend, rr, owner)
        if rr and label:
            rr.append_label(label)
    else:
        _rd_generic(m, dpos, dend, rr, rtype, rclass)
        info = ""
        if rtype in _INFO_OWNER:
            info = owner
        elif rtype in _INFO_FIRST_NAME:
            info, _ = m.name(dpos, dend)
            if rr:
                rr.append_label(f", next domain name {info}")
    if info:
        pkt.append_info(info)
    return dend


def _owner_fields(rr: Tree, pos: int, used: int, owner: str, rtype: int) -> None:
    """The owner name; an SRV owner 'service.proto.name' is split as tshark does."""
    if rtype == 33:
        parts = owner.split(".", 2)
        if len(parts) == 3:
            rr.add(SRV_SERVICE, pos, used, parts[0])
            rr.add(SRV_PROTO, pos, used, parts[1])
            rr.add(SRV_NAME, pos, used, parts[2])
            return
    rr.add(RESP_NAME, pos, used, owner)


def _section(m: _Msg, pos: int, count: int, t: Tree, title: str) -> int:
    st = t.add_text(pos, 0, title) if t else t
    start = pos
    for _ in range(count):
        pos = _record(m, pos, st)
    if st:
        st.set_size(pos - start)
    return pos


def _transaction(t: Tree, pkt: Packet, st: DnsState, tx: int, retrans: bool,
                 response: bool, id_node: Tree) -> None:
    """tshark's generated request/response items, after the sections."""
    req = st.req[tx] if tx >= 0 else 0
    rep = st.rep[tx] if tx >= 0 else 0
    if not response:
        if retrans and req:
            pkt.note(RETRANSMIT_REQUEST)
            if t:
                id_node.add_expert(RETRANSMIT_REQUEST, 0, 0, "DNS query retransmission. "
                                                             f"Original request in frame {req}")
                t.add(RETRANSMIT_REQUEST_IN, 0, 0, req, generated=True)
                t.add(RETRANSMISSION, 0, 0, True, generated=True)
        elif rep and t and rep != pkt.number:
            t.add(RESPONSE_IN, 0, 0, rep, generated=True)
        return
    if req:
        if retrans and rep:
            pkt.note(RETRANSMIT_RESPONSE)
            if t:
                id_node.add_expert(RETRANSMIT_RESPONSE, 0, 0, "DNS response retransmission. "
                                                              f"Original response in frame {rep}")
                t.add(RETRANSMIT_RESPONSE_IN, 0, 0, rep, generated=True)
                t.add(RETRANSMISSION, 0, 0, True, generated=True)
        elif t:
            t.add(RESPONSE_TO, 0, 0, req, generated=True)
            t.add(TIME, 0, 0, pkt.ts_ns - st.req_ts[tx], generated=True)
    elif not retrans and t:
        t.add(UNSOLICITED, 0, 0, True, generated=True)


def dissect_message(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet, kind: int = DNS,
                    length_at: int = -1) -> None:
    """One DNS/mDNS/LLMNR message in [off, end); `length_at` is where its TCP length
    prefix is (or -1). Messages already dissected in this frame (several in one TCP
    segment) are counted from the layer list, so any caller (a reassembler) can call it."""
    nth = pkt.layers.count(_LAYER[kind])
    pkt.enter(_LAYER[kind])
    pkt.set_protocol(_PROTO_NAMES[kind])
    data = buf.data
    buf.need_within(off, 4, end)
    tid, flags = _U16(data, off)[0], _U16(data, off + 2)[0]
    opcode, rcode, response = flags >> 11 & 15, flags & 15, bool(flags & 0x8000)
    info = f"{OPCODES.get(opcode) or f'Unknown operation ({opcode})'}" \
           f"{' response' if response else ''} 0x{tid:04x}"
    if response and rcode:
        info += f" {RCODES.get(rcode) or f'Unknown error ({rcode})'}"
    pkt.set_info(info)   # tshark clears Info per message: a segment shows its last one
    t = tree
    if tree:
        start = length_at if length_at >= 0 else off
        t = tree.add(_PROTO_SPECS[kind], start, end - start,
                     label=f"{_PROTO_LABELS[kind]} ({'response' if response else 'query'})")
        if length_at >= 0:
            t.add(LENGTH, length_at, 2, end - off)
    id_node = t.add(ID, off, 2, tid) if t else t
    if t:
        _add_flags(t, off + 2, flags, kind)
    st: DnsState = pkt.state.slot("dns", DnsState)
    conv = _conversation(pkt)
    # tshark matches right after the id and flags: a message cut short later still counts
    tx, retrans = st.match(pkt, nth, conv, tid, response) if conv is not None else (-1, False)
    m = _Msg(buf, off, end, kind, pkt)
    buf.need_within(off + 4, 8, end)
    qd, an, ns, ar = _HDR(data, off)[2:]
    update = opcode == OPCODE_UPDATE
    if t:
        t.add(COUNT_ZONES if update else COUNT_QUERIES, off + 4, 2, qd)
        t.add(COUNT_PREREQ if update else COUNT_ANSWERS, off + 6, 2, an)
        t.add(COUNT_UPDATES if update else COUNT_AUTH, off + 8, 2, ns)
        t.add(COUNT_ADD, off + 10, 2, ar)
    pos = off + 12
    if qd:
        qt = t.add_text(pos, 0, "Zone" if update else "Queries") if t else t
        start = pos
        qtype = -1
        for _ in range(qd):
            pos, qtype = _query(m, pos, qt)
        if qt:
            qt.set_size(pos - start)
        if tx >= 0 and not pkt.visited:
            st.zone_transfer(tx, qtype in (T_AXFR, T_IXFR))
    if an:
        pos = _section(m, pos, an, t, "Prerequisites" if update else "Answers")
    if ns:
        pos = _section(m, pos, ns, t, "Updates" if update else "Authoritative nameservers")
    if ar:
        pos = _section(m, pos, ar, t, "Additional records")
    if pkt.in_error:
        return
    _transaction(t, pkt, st, tx, retrans, response, id_node)
    extra = end - pos
    if extra > 0 and t:
        x = t.add_text(pos, extra, f"Extraneous Data ({extra} bytes)")
        x.add(EXTRANEOUS_DATA, pos, extra, bytes(data[pos:min(end, len(data))]))
        x.add(EXTRANEOUS_LENGTH, 0, 0, extra, generated=True)
        x.add_expert(EXTRANEOUS, pos, extra).hidden = True


def _conversation(pkt: Packet) -> tuple[int, int] | None:
    """(transport, stream): Wireshark's conversation of the message; None inside an ICMP
    error's quote, where tshark does no matching."""
    if pkt.in_error:
        return None
    if pkt.ptype == "tcp" and pkt.tcp is not None and pkt.tcp.stream >= 0:
        return 6, pkt.tcp.stream
    if pkt.udp is not None and pkt.udp.stream >= 0:
        return 17, pkt.udp.stream
    return None


# ---------------------------------------------------------------------------------------
# A summary for analyzers (no tree): same name reader, same bounds
# ---------------------------------------------------------------------------------------

MAX_SCAN_RECORDS = 256   # records walked looking for the OPT record


class MessageSummary:
    """What an analyzer needs from one message: header, first question, EDNS size."""

    __slots__ = ("answers", "counts", "edns_payload", "flags", "id", "qclass", "qname",
                 "qtype")

    def __init__(self, tid: int, flags: int, counts: tuple[int, int, int, int]) -> None:
        self.id = tid
        self.flags = flags
        self.counts = counts
        self.answers = counts[1]
        self.qname = ""
        self.qtype = -1
        self.qclass = -1
        self.edns_payload = -1   # the OPT record's UDP payload size; -1: no OPT seen

    @property
    def response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return self.flags >> 11 & 15

    @property
    def rcode(self) -> int:
        return self.flags & 15

    @property
    def truncated(self) -> bool:
        return bool(self.flags & 0x0200)


def _skip_name(data: bytes, pos: int, end: int) -> int:
    """The position after the name at `pos` (its own bytes; pointers are not followed)."""
    while True:
        if pos >= end or pos >= len(data):
            raise Malformed("DNS name runs past the message")
        n = data[pos]
        if n == 0:
            return pos + 1
        if n & 0xC0 == 0xC0:
            return pos + 2
        if n & 0xC0:
            raise Malformed("DNS extended label type")
        pos += 1 + n


def peek_message(data: bytes, off: int, end: int,
                 responses: bool = True) -> MessageSummary | None:
    """Header, first question and EDNS payload size of the message in data[off:end];
    None without a whole header. What cannot be read (cut or malformed) stays unset.
    With responses=False an answer's header alone is read (an analyzer that pairs answers
    by id needs no more)."""
    end = min(end, len(data))
    if end - off < 12:
        return None
    tid, flags, qd, an, ns, ar = _HDR(data, off)
    msg = MessageSummary(tid, flags, (qd, an, ns, ar))
    if not responses and flags & 0x8000:
        return msg
    try:
        pos = off + 12
        for i in range(qd):
            if i == 0:
                msg.qname, used, _ = read_name(data, pos, off, end)
                pos += used
                if pos + 4 > end:
                    return msg
                msg.qtype, msg.qclass = _QTYPE_CLASS(data, pos)
                pos += 4
            else:
                pos = _skip_name(data, pos, end) + 4
        if ar and an + ns + ar <= MAX_SCAN_RECORDS:
            for i in range(an + ns + ar):
                pos = _skip_name(data, pos, end)
                if pos + 10 > end:
                    return msg
                rtype, rclass, _ttl, dlen = _RR_FIXED(data, pos)
                if rtype == T_OPT and i >= an + ns:
                    msg.edns_payload = rclass
                    return msg
                pos += 10 + dlen
    except (Truncated, Malformed):
        pass
    return msg


# ---------------------------------------------------------------------------------------
# Transports
# ---------------------------------------------------------------------------------------

def _udp(kind: int) -> Callable[[Buf, int, int, Tree, Packet], None]:
    def dissect(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> None:
        dissect_message(buf, off, end, tree, pkt, kind)
    dissect.__name__ = f"dissect_{_LAYER[kind]}_udp"
    return dissect


def tcp_pdus(buf: Buf, off: int, end: int) -> tuple[list[tuple[int, int]], int]:
    """Split a TCP payload into length-prefixed DNS messages (RFC 7766 8).

    Returns the (start, end) of every complete message and how many more bytes the last,
    incomplete one needs (0 when the payload ends on a message boundary). This is the seam
    for TCP reassembly: a caller that can collect more segments asks for that many bytes.
    """
    pdus = []
    pos = off
    while pos < end:
        if end - pos < 2:
            return pdus, 2 - (end - pos)
        buf.need(pos, 2)
        n = _U16(buf.data, pos)[0]
        if pos + 2 + n > end:
            return pdus, pos + 2 + n - end
        pdus.append((pos, pos + 2 + n))
        pos += 2 + n
    return pdus, 0


def _dns_len(data: bytes, off: int, end: int) -> int | None:
    """A DNS-over-TCP message's length from its 2-byte prefix (RFC 7766 section 8)."""
    return None if end - off < 2 else 2 + (data[off] << 8 | data[off + 1])


def _tcp_message(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> None:
    dissect_message(buf, off + 2, end, tree, pkt, DNS, length_at=off)


def dissect_dns_tcp(buf: Buf, off: int, end: int, tree: Tree, pkt: Packet) -> None:
    """DNS over TCP: every message in the segment; one that spans segments is reassembled
    and shown in the frame that completes it, as tshark does."""
    dissect_pdus(buf, off, end, tree, pkt, pdu_len=_dns_len, dissect_pdu=_tcp_message,
                 keep_tcp_info=True)


UDP_PORT.register(53, _udp(DNS))
UDP_PORT.register(5353, _udp(MDNS))
UDP_PORT.register(5355, _udp(LLMNR))
TCP_PORT.register(53, dissect_dns_tcp)
TCP_PORT.register(5353, dissect_dns_tcp)

__all__ = [
    "OPCODES",
    "RCODES",
    "DnsState",
    "MessageSummary",
    "dissect_dns_tcp",
    "dissect_message",
    "peek_message",
    "read_name",
    "tcp_pdus",
    "type_name",
]
