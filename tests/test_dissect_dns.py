"""DNS, mDNS and LLMNR: header and flags, names (compression, loops, limits), typed records,
EDNS options, tshark's transaction matching, DNS over TCP, and hostile bytes.

Frames are built as raw IPv4 (link type 228) + UDP/TCP around the message and go through
dissect_frame. Expected texts and values are tshark 4.0.17's on the same bytes (checked with
`tshark -V` / `-T fields` on pcaps written from these frames) or on the capture named.
"""
from __future__ import annotations

import struct
import time

import dns.edns
import dns.message
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.columns import info as info_column
from dissectors import CaptureState, dissect_frame
from dissectors.buffer import Malformed, Truncated
from dissectors.dns import LOOP, TOO_LONG, peek_message, read_name
from dissectors.fields import REGISTRY, fields_value

CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def _ip(proto: int, src: bytes, dst: bytes, l4: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, src,
                       dst) + l4


def udp_frame(msg: bytes, sport: int = 40000, dport: int = 53, *, reply: bool = False,
              dst: bytes | None = None) -> bytes:
    src, dst_ = (SERVER, CLIENT) if reply else (CLIENT, dst or SERVER)
    if reply:
        sport, dport = dport, sport
    return _ip(17, src, dst_, struct.pack("!HHHH", sport, dport, 8 + len(msg), 0) + msg)


def tcp_frame(payload: bytes, seq: int, sport: int = 40000, dport: int = 53) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 65535, 0, 0)
    return _ip(6, CLIENT, SERVER, tcp + payload)


class Capture:
    """Frames dissected in order, one second apart unless told."""

    def __init__(self) -> None:
        self.state = CaptureState()
        self.n = 0
        self.frames: list[tuple[bytes, int]] = []

    def add(self, frame: bytes, ts: float | None = None, tree: bool = True):
        self.n += 1
        ts_ns = int((self.n if ts is None else ts) * 1e9)
        self.frames.append((frame, ts_ns))
        return self.again(self.n, tree)

    def again(self, number: int, tree: bool = True):
        frame, ts_ns = self.frames[number - 1]
        root, pkt = dissect_frame(frame, number=number, ts_ns=ts_ns, origlen=len(frame),
                                  linktype=228, state=self.state, tree=tree)
        assert "bug" not in pkt.hints, pkt.hints
        return root, pkt


def values(root, name: str) -> list[str]:
    return [fields_value(REGISTRY[name], v) for v in root.values().get(name, [])]


def texts(root) -> list[str]:
    return [n.text() for n in root.walk() if n.spec is not None or n.label]


def query(name: str, rdtype: str = "A", qid: int = 0x1a2b, **kw) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, **kw)
    q.id = qid
    return q


def answer(q: dns.message.Message, *records: tuple[str, str, str], rcode: int = 0,
           ttl: int = 300) -> bytes:
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    for owner, rdtype, text in records:
        r.answer.append(dns.rrset.from_text(owner, ttl, "IN", rdtype, text))
    return r.to_wire()


# dns.pcap frames 1 and 2: A www.lab.test -> 10.77.2.2 (tcpdump -X payloads)
Q1 = bytes.fromhex("36a60100000100000000000003777777036c61620474657374000001 0001")
R1 = bytes.fromhex("36a68580000100010000000003777777036c61620474657374000001000"
                   "1c00c000100010000003c00040a4d0202")


# -- header, question, Info ------------------------------------------------------------------
def test_query_and_answer_fields_and_info():
    cap = Capture()
    root, pkt = cap.add(udp_frame(Q1))
    assert pkt.col_protocol == "DNS"
    assert info_column(pkt) == "Standard query 0x36a6 A www.lab.test"
    assert values(root, "dns.id") == ["0x36a6"]
    assert values(root, "dns.flags") == ["0x0100"]
    assert values(root, "dns.flags.response") == ["0"]
    assert values(root, "dns.flags.rcode") == []          # queries carry no rcode item
    assert values(root, "dns.qry.name") == ["www.lab.test"]
    assert values(root, "dns.qry.name.len") == ["12"]
    assert values(root, "dns.count.labels") == ["3"]
    assert values(root, "dns.qry.class") == ["0x0001"]
    assert "Domain Name System (query)" in texts(root)
    assert ".... ...1 .... .... = Recursion desired: Do query recursively" in texts(root)
    root, pkt = cap.add(udp_frame(R1, reply=True), ts=1.011738)
    assert info_column(pkt) == "Standard query response 0x36a6 A www.lab.test A 10.77.2.2"
    assert values(root, "dns.a") == ["10.77.2.2"]
    assert values(root, "dns.resp.name") == ["www.lab.test"]
    assert values(root, "dns.resp.ttl") == ["60"]
    assert values(root, "dns.response_to") == ["1"]
    assert values(root, "dns.time") == ["0.011738000"]
    assert "www.lab.test: type A, class IN, addr 10.77.2.2" in texts(root)
    assert "Time to live: 60 (1 minute)" in texts(root)
    assert "Flags: 0x8580 Standard query response, No error" in texts(root)
    assert root.values()["frame.protocols"] == ["ip:udp:dns"]


def test_rcode_and_opcode_in_info():
    q = query("nosuch.lab.test", qid=0xf0dc)
    cap = Capture()
    cap.add(udp_frame(q.to_wire()))
    _, pkt = cap.add(udp_frame(answer(q, rcode=3), reply=True))
    assert info_column(pkt) == "Standard query response 0xf0dc No such name A nosuch.lab.test"
    q = query("ex.com", "SOA", qid=0x4445)
    q.set_opcode(4)
    _, pkt = cap.add(udp_frame(q.to_wire(), sport=40001))
    assert info_column(pkt) == "Zone change notification 0x4445 SOA ex.com"
    raw = bytearray(q.to_wire())
    raw[2] = 0xF8 | raw[2] & 0x07          # opcode 15, response
    raw[3] = 0x0F                          # rcode 15
    _, pkt = cap.add(udp_frame(bytes(raw), sport=40002))
    assert info_column(pkt).startswith("Unknown operation (15) response 0x4445 Unknown error "
                                       "(15) SOA ex.com")


# -- records ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rdtype,text,info,fields", [
    ("MX", "10 mail.ex.com.", "MX 10 mail.ex.com",
     {"dns.mx.preference": ["10"], "dns.mx.mail_exchange": ["mail.ex.com"]}),
    ("TXT", '"hello world" "second"', "TXT",
     {"dns.txt": ["hello world", "second"], "dns.txt.length": ["11", "6"]}),
    ("CAA", '0 issue "letsencrypt.org"', "CAA",
     {"dns.caa.issue": ["letsencrypt.org"], "dns.caa.tag": ["issue"], "dns.caa.flags": ["0x00"]}),
    ("NAPTR", '100 10 "U" "E2U+sip" "!^.*$!sip:info@ex.com!" .', "NAPTR 100 10 U",
     {"dns.naptr.service": ["E2U+sip"], "dns.naptr.replacement": ["<Root>"]}),
    ("SOA", "ns.ex.com. host.ex.com. 5 3600 600 86400 60", "SOA ns.ex.com",
     {"dns.soa.rname": ["host.ex.com"], "dns.soa.minimum_ttl": ["60"]}),
    ("NS", "ns.ex.com.", "NS ns.ex.com", {"dns.ns": ["ns.ex.com"]}),
    ("CNAME", "w.ex.com.", "CNAME w.ex.com", {"dns.cname": ["w.ex.com"]}),
    ("AAAA", "2001:db8::1", "AAAA 2001:db8::1", {"dns.aaaa": ["2001:db8::1"]}),
    ("HTTPS", '1 . alpn="h2,h3" port=8443 ipv4hint=1.2.3.4', "HTTPS",
     {"dns.svcb.svcpriority": ["1"], "dns.svcb.svcparam.alpn": ["h2", "h3"],
      "dns.svcb.svcparam.port": ["8443"], "dns.svcb.svcparam.ipv4hint.ip": ["1.2.3.4"]}),
    ("DNAME", "other.com.", "DNAME other.com", {"dns.dname": ["other.com"]}),
    ("SSHFP", "1 1 0123456789abcdef0123456789abcdef01234567", "SSHFP",
     {"dns.resp.rdata": ["1 1 0123456789abcdef0123456789abcdef01234567"]}),
    ("HINFO", '"INTEL" "LINUX"', "HINFO INTEL LINUX", {"dns.hinfo.os": ["LINUX"]}),
])
def test_typed_records(rdtype, text, info, fields):
    q = query("ex.com", rdtype)
    cap = Capture()
    cap.add(udp_frame(q.to_wire()))
    root, pkt = cap.add(udp_frame(answer(q, ("ex.com.", rdtype, text)), reply=True))
    assert info_column(pkt) == f"Standard query response 0x1a2b {rdtype} ex.com {info}"
    for name, want in fields.items():
        assert values(root, name) == want, name


def test_srv_owner_split_and_https_param_label():
    q = query("_sip._udp.ex.com", "SRV")
    root, pkt = Capture().add(udp_frame(answer(
        q, ("_sip._udp.ex.com.", "SRV", "10 60 5060 sip.ex.com.")), reply=True))
    assert info_column(pkt).endswith("SRV 10 60 5060 sip.ex.com")
    assert values(root, "dns.srv.service") == ["_sip"]
    assert values(root, "dns.srv.proto") == ["_udp"]
    assert values(root, "dns.srv.name") == ["ex.com"]
    q = query("ex.com", "HTTPS")
    root, _ = Capture().add(udp_frame(answer(q, ("ex.com.", "HTTPS", '1 . alpn="h2,h3"')),
                                      reply=True))
    assert "SvcParam: alpn=h2,h3" in texts(root)


def test_unknown_type_is_bytes_and_named_unknown():
    q = query("ex.com", "TYPE4000")
    root, pkt = Capture().add(udp_frame(answer(q, ("ex.com.", "TYPE4000", r"\# 3 abcdef")),
                                        reply=True))
    assert info_column(pkt).endswith("Unknown (4000) ex.com Unknown (4000)")
    assert values(root, "dns.data") == ["abcdef"]


def test_edns_opt_client_subnet_cookie_and_do_bit():
    q = query("e.com", use_edns=0, want_dnssec=True, payload=1232, options=[
        dns.edns.ECSOption("192.0.2.0", 24),
        dns.edns.GenericOption(10, bytes.fromhex("0102030405060708")),
        dns.edns.ECSOption("2001:db8::", 48)])
    root, pkt = Capture().add(udp_frame(q.to_wire()))
    assert info_column(pkt) == "Standard query 0x1a2b A e.com OPT"
    assert values(root, "dns.rr.udp_payload_size") == ["1232"]
    assert values(root, "dns.resp.z.do") == ["1"]
    assert values(root, "dns.resp.ext_rcode") == ["0x00"]
    assert values(root, "dns.opt.client.addr4") == ["192.0.2.0"]
    assert values(root, "dns.opt.client.addr6") == ["2001:db8::"]
    assert values(root, "dns.opt.client.netmask") == ["24", "48"]
    assert values(root, "dns.opt.cookie.client") == ["0102030405060708"]
    assert "Server Cookie: <MISSING>" in texts(root)
    assert "Option: CSUBNET - Client subnet" in texts(root)
    assert "<Root>: type OPT" in texts(root)


# -- names -----------------------------------------------------------------------------------
def _msg(qname_wire: bytes) -> bytes:
    return bytes.fromhex("222301000001000000000000") + qname_wire + b"\x00\x01\x00\x01"


def test_pointer_loop_is_named_like_tshark():
    # zeek_dns-invalid-names.pcap frame 2: the question's name points at itself
    root, pkt = Capture().add(udp_frame(_msg(b"\xc0\x0c")))
    assert values(root, "dns.qry.name") == [LOOP]
    assert values(root, "dns.qry.name.len") == ["36"]
    assert info_column(pkt) == f"Standard query 0x2223 A {LOOP}"


def test_label_past_the_message_is_malformed():
    # zeek_dns-invalid-names.pcap frame 1: the message ends inside the label
    _, pkt = Capture().add(udp_frame(bytes.fromhex("222201000001000000000000") + b"\x03a"))
    assert pkt.damage == "malformed"
    assert info_column(pkt) == "Standard query 0x2222[Malformed Packet]"


def test_escapes_and_name_length_count_raw_bytes():
    name = b"\x05a.b\\c\x03x\x01y\x00"
    root, _ = Capture().add(udp_frame(_msg(name)))
    assert values(root, "dns.qry.name") == ["a.b\\c.x\\001y"]
    assert values(root, "dns.qry.name.len") == ["9"]


def test_forward_pointer_and_too_long_name():
    data = _msg(b"\xc0\x12") + b"\x04abcd\x00"
    assert read_name(data, 12, 0, len(data)) == ("abcd", 2, 4)
    labels = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
    data = _msg(labels)
    name, used, _ = read_name(data, 12, 0, len(data))
    assert (name, used) == (TOO_LONG, len(labels))


def test_read_name_bounds():
    data = _msg(b"\x03abc")[:-4]
    with pytest.raises(Malformed):
        read_name(data, 12, 0, len(data))
    with pytest.raises(Truncated):
        read_name(data, 12, 0, len(data) + 10)
    chain = bytearray(_msg(b"\xc0\x0e"))
    chain[14:16] = b"\xc0\x0c"             # two pointers at each other
    assert read_name(bytes(chain), 12, 0, len(chain))[0] == LOOP


# -- transactions ----------------------------------------------------------------------------
def test_retransmitted_query_then_answer_then_duplicate_answer():
    q = query("silent.lab.test", qid=0xc1b1)
    cap = Capture()
    cap.add(udp_frame(q.to_wire()), ts=1.0)
    root, _ = cap.add(udp_frame(q.to_wire()), ts=2.0)
    assert values(root, "dns.retransmit_request_in") == ["1"]
    assert values(root, "dns.retransmission") == ["1"]
    assert "[Expert Info (Warning/Protocol): DNS query retransmission. Original request in " \
           "frame 1]" in texts(root)
    root, _ = cap.add(udp_frame(answer(q, ("silent.lab.test.", "A", "1.2.3.4")), reply=True),
                      ts=2.5)
    assert values(root, "dns.response_to") == ["1"]
    assert values(root, "dns.time") == ["1.500000000"]
    root, _ = cap.add(udp_frame(answer(q, ("silent.lab.test.", "A", "1.2.3.4")), reply=True),
                      ts=2.6)
    assert values(root, "dns.retransmit_response_in") == ["3"]
    # a query 5 s or more after an unanswered one opens a new transaction
    q2 = query("late.test", qid=0x7777)
    cap.add(udp_frame(q2.to_wire()), ts=10.0)
    root, _ = cap.add(udp_frame(q2.to_wire()), ts=15.0)
    assert values(root, "dns.retransmit_request_in") == []


def test_same_id_after_an_answer_is_a_new_transaction_and_unsolicited_answers():
    q = query("broken.lab.test", qid=0x2b4e)
    cap = Capture()
    cap.add(udp_frame(q.to_wire()))
    cap.add(udp_frame(answer(q, rcode=2), reply=True))
    root, _ = cap.add(udp_frame(q.to_wire()))
    assert values(root, "dns.retransmit_request_in") == []
    root, _ = cap.add(udp_frame(answer(q, rcode=2), reply=True))
    assert values(root, "dns.response_to") == ["3"]
    other = query("x.test", qid=0x0bad)
    root, _ = cap.add(udp_frame(answer(other), reply=True))
    assert values(root, "dns.unsolicited") == ["1"]


def test_zone_transfer_answers_are_not_retransmissions():
    q = query("ex.com", "AXFR", qid=0x5555)
    cap = Capture()
    cap.add(udp_frame(q.to_wire()))
    r = answer(q, ("ex.com.", "A", "1.1.1.1"))
    cap.add(udp_frame(r, reply=True))
    root, _ = cap.add(udp_frame(r, reply=True))
    assert values(root, "dns.response_to") == ["1"]
    assert values(root, "dns.retransmission") == []


def test_revisited_query_shows_its_response_and_keeps_its_state():
    q = query("www.lab.test", qid=0x36a6)
    cap = Capture()
    root, _ = cap.add(udp_frame(q.to_wire()))
    assert values(root, "dns.response_in") == []          # single pass: not known yet
    cap.add(udp_frame(answer(q, ("www.lab.test.", "A", "10.77.2.2")), reply=True))
    cap.add(udp_frame(q.to_wire()))                       # a new transaction, same id
    root, _ = cap.again(1)
    assert values(root, "dns.response_in") == ["2"]       # as Wireshark's second pass
    root, _ = cap.again(2)
    assert values(root, "dns.response_to") == ["1"]
    assert values(root, "dns.retransmission") == []


def test_fast_path_sets_the_same_columns():
    cap, fast = Capture(), Capture()
    for frame in (udp_frame(Q1), udp_frame(R1, reply=True)):
        _, a = cap.add(frame)
        _, b = fast.add(frame, tree=False)
        assert (a.col_protocol, info_column(a), a.layers) == \
            (b.col_protocol, info_column(b), b.layers)


# -- transports ------------------------------------------------------------------------------
def _pref(m: dns.message.Message) -> bytes:
    w = m.to_wire()
    return struct.pack("!H", len(w)) + w


def test_tcp_several_messages_in_one_segment_and_one_across_segments():
    cap = Capture()
    one, two = query("one.com", qid=1), query("two.com", "AAAA", qid=2)
    root, pkt = cap.add(tcp_frame(_pref(one) + _pref(two), seq=1000))
    assert pkt.col_protocol == "DNS"
    assert info_column(pkt) == "Standard query 0x0002 AAAA two.com"   # tshark: the last
    assert values(root, "dns.qry.name") == ["one.com", "two.com"]
    assert values(root, "dns.length") == [str(len(one.to_wire())), str(len(two.to_wire()))]
    three = _pref(query("three.com", qid=3))
    _, pkt = cap.add(tcp_frame(three[:10], seq=1000 + 2 * 2 + len(one.to_wire())
                               + len(two.to_wire())))
    assert pkt.col_protocol == "TCP"
    assert info_column(pkt).endswith("Len=10 [TCP segment of a reassembled PDU]")
    root, pkt = cap.add(tcp_frame(three[10:], seq=pkt.tcp.seq_raw + 10))
    assert pkt.damage == ""                 # reassembled: the whole message in this frame
    assert info_column(pkt) == "Standard query 0x0003 A three.com"
    assert values(root, "dns.qry.name") == ["three.com"]
    _, again = cap.again(3)                 # random access reads what the first pass saw
    assert (again.damage, info_column(again)) == ("", info_column(pkt))


def test_extraneous_bytes_after_the_records():
    root, pkt = Capture().add(udp_frame(Q1 + b"xyz"))
    assert info_column(pkt) == "Standard query 0x36a6 A www.lab.test"
    assert "Extraneous Data (3 bytes)" in texts(root)
    assert values(root, "dns.extraneous.length") == ["3"]


def test_mdns_qu_question_and_cache_flush():
    q = query("host.local", qid=0)
    q.flags = 0
    wire = bytearray(q.to_wire())
    wire[-2] |= 0x80                                   # QU bit
    root, pkt = Capture().add(udp_frame(bytes(wire), 5353, 5353,
                                        dst=bytes([224, 0, 0, 251])))
    assert pkt.col_protocol == "MDNS"
    assert info_column(pkt) == 'Standard query 0x0000 A host.local, "QU" question'
    assert values(root, "dns.qry.qu") == ["1"]
    assert values(root, "dns.qry.class") == ["0x0001"]
    assert "Multicast Domain Name System (query)" in texts(root)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("host.local.", 120, "IN", "A", "10.0.0.9"))
    wire = bytearray(r.to_wire())
    wire[-12] |= 0x80                                  # cache flush on the record's class
    root, pkt = Capture().add(udp_frame(bytes(wire), 5353, 5353, reply=True))
    assert info_column(pkt).endswith("A, cache flush 10.0.0.9")
    assert values(root, "dns.resp.cache_flush") == ["1"]


def test_llmnr_flags_and_protocol():
    q = query("host", "AAAA", qid=7)
    q.flags = 0
    root, pkt = Capture().add(udp_frame(q.to_wire(), 50000, 5355,
                                        dst=bytes([224, 0, 0, 252])))
    assert pkt.col_protocol == "LLMNR"
    assert info_column(pkt) == "Standard query 0x0007 AAAA host"
    assert values(root, "dns.flags.tentative") == ["0"]
    assert values(root, "dns.flags.recdesired") == []
    assert root.find("llmnr") is not None


def test_peek_message_reads_header_question_and_edns():
    q = query("www.example.com", "AAAA", use_edns=0, payload=1200)
    m = peek_message(q.to_wire(), 0, len(q.to_wire()))
    assert (m.qname, m.qtype, m.edns_payload, m.response) == ("www.example.com", 28, 1200,
                                                              False)
    r = answer(q, rcode=3)
    m = peek_message(r, 0, len(r), responses=False)
    assert (m.rcode, m.qname, m.response) == (3, "", True)
    assert peek_message(r[:11], 0, 11) is None


# -- hostile bytes ---------------------------------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=600), st.sampled_from([53, 5353, 5355]),
       st.booleans())
def test_random_messages_only_mark_the_frame(msg, port, tcp):
    frame = tcp_frame(struct.pack("!H", len(msg)) + msg, 1) if tcp else \
        udp_frame(msg, 40000, port)
    t = time.perf_counter()
    Capture().add(frame)
    assert time.perf_counter() - t < 1.0


@st.composite
def compressed_messages(draw):
    """Headers with plausible counts and bodies full of labels and pointers anywhere."""
    head = struct.pack("!HHHHHH", draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)),
                       *(draw(st.integers(0, 40)) for _ in range(4)))
    parts = draw(st.lists(st.one_of(
        st.binary(min_size=1, max_size=8).map(lambda b: bytes([len(b)]) + b),
        st.integers(0, 0x3FFF).map(lambda p: struct.pack("!H", 0xC000 | p)),
        st.integers(0, 0xFF).map(lambda b: bytes([b])),
        st.just(b"\x00\x01\x00\x01"), st.just(b"\x00")), max_size=120))
    return head + b"".join(parts)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compressed_messages())
def test_names_and_compression_are_bounded(msg):
    t = time.perf_counter()
    _, pkt = Capture().add(udp_frame(msg))
    assert time.perf_counter() - t < 1.0
    assert pkt.damage in ("", "short", "malformed")
    m = peek_message(msg, 0, len(msg))
    assert m is None or len(m.qname) <= 4 * 255 + 40


def test_long_pointer_chains_are_cut():
    # 2000 pointers, each to the next: a name walk stops at the hop limit, quickly
    body = b"".join(struct.pack("!H", 0xC000 | (12 + 2 * (i + 1))) for i in range(2000))
    msg = bytes.fromhex("000001000001000000000000") + body + b"\x00"
    t = time.perf_counter()
    assert read_name(msg, 12, 0, len(msg))[0] == LOOP
    assert time.perf_counter() - t < 0.05


def test_type_mnemonics_are_dnspythons():
    """The type names we print without loading dnspython are the ones it prints (IANA's),
    for every type with a description; WINS and WINS-R it does not know."""
    import dns.rdatatype
    from dissectors.dns import TYPE_DESCRIPTIONS, TYPE_MNEMONICS, type_name
    assert set(TYPE_MNEMONICS) == set(TYPE_DESCRIPTIONS)
    for t, name in TYPE_MNEMONICS.items():
        if t not in (65281, 65282):
            assert dns.rdatatype.to_text(t) == name, t
    assert type_name(65281) == "WINS" and type_name(4000) == "Unknown (4000)"
