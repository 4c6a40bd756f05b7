"""PROXY protocol v1/v2 on `proxy:` listeners (mailproc behind HAProxy).

A trusted peer (in proxy_trusted) sends one PROXY header before the greeting;
the address it names is then the client's address for relay control
(mynetworks), max_connections_per_ip, the Received: header and the logs. An
untrusted peer, a malformed header, or no header in time: the connection is
closed without a greeting and nothing is queued.

The daemon has a plain listener too (the harness's "smtp") and a `proxy:` one
(the harness writes protocol "proxy" as `proxy:ADDR:PORT`). The harness's
start-up probe expects a 220 at once, so on the proxy listener it first sends
`PROXY UNKNOWN` (from 127.0.0.2, which these tests always trust)."""

import socket
import struct
import types

import pytest

import mp

MYNETWORKS = "127.0.0.0/8"
OUTSIDE = "192.0.2.10"  # TEST-NET-1: outside mynetworks


def _probe_proxy(self, host, port):
    """Daemon._probe for a daemon with proxy listeners: PROXY UNKNOWN first."""
    proxy_ports = {p for proto, _h, p in self.listeners if proto.startswith("proxy")}
    if port not in proxy_ports:
        return mp.Daemon._probe(self, host, port)
    if self.proc.poll() is not None:
        raise mp.HarnessError(f"mailprocd exited with {self.proc.returncode}")
    try:
        with mp.RawClient(host, port, source="127.0.0.2", limit=2.0) as c:
            c.send(b"PROXY UNKNOWN\r\n")
            r = c.reply()
            if r.code != 220:
                raise mp.HarnessError(f"proxy listener {host}:{port} greeted with {r}")
            c.send(b"QUIT\r\n")
            return True
    except (ConnectionRefusedError, ConnectionResetError, EOFError):
        return False


@pytest.fixture
def make_proxy_daemon(make_daemon):
    def factory(conf=None, listeners=(("smtp", "127.0.0.1"), ("proxy", "127.0.0.1")), start=True):
        full = {"mynetworks": MYNETWORKS, "proxy_trusted": "127.0.0.1/32 127.0.0.2/32",
                "relay_domains": "example.org"}
        full.update(conf or {})
        d = make_daemon(full, listeners=listeners, start=False)
        d._probe = types.MethodType(_probe_proxy, d)
        if start:
            d.start()
        return d

    return factory


@pytest.fixture
def pd(make_proxy_daemon):
    return make_proxy_daemon()


def v1(src, dst="127.0.0.1", sport=40000, dport=25) -> bytes:
    family = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {family} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, dst="127.0.0.1", sport=40000, dport=25, command=1, tlvs=b"") -> bytes:
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    if command == 0:  # LOCAL
        return sig + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    if ":" in src:
        fam, a, b = 0x21, socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    else:
        fam, a, b = 0x11, socket.inet_aton(src), socket.inet_aton(dst)
    block = a + b + struct.pack("!HH", sport, dport) + tlvs
    return sig + bytes([0x21, fam]) + struct.pack("!H", len(block)) + block


def proxied(d, header: bytes, source: str = "127.0.0.1", proto: str = "proxy") -> mp.RawClient:
    """A client on the proxy listener that has sent `header` (greeting not read)."""
    c = d.client(proto, source=source)
    c.send(header)
    return c


def refused(c: mp.RawClient) -> bool:
    """The server closed without sending a byte (no greeting)."""
    try:
        return c.closed()
    except OSError:  # reset after our unread bytes
        return c.buf == b""


HEADERS = {"v1": v1, "v2": v2}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxied_outside_client_is_denied_relay(pd, version):
    with proxied(pd, HEADERS[version](OUTSIDE)) as c:
        c.greeting()
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@outside.test>").code == 250
        r = c.cmd("RCPT TO:<user@other.net>")
        assert r.code == 554 and r.enhanced == "5.7.1", r
        # relay_domains still accept from anyone
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(mp.dot_stuff(mp.build_message(version)) + b".\r\n")
        final = c.reply()
        assert final.code == 250, final
        assert c.cmd("QUIT").code == 221
    qf = pd.message(final.queue_id)
    received = mp.split_received(qf.content)[0].decode()
    assert f"[{OUTSIDE}]" in received, received
    assert "127.0.0.1" not in received, received
    assert qf.get("client_addr") == OUTSIDE, qf.fields
    assert qf.recipients == ["user@example.org"]
    log = pd.log_text()
    assert f"connect from unknown[{OUTSIDE}]" in log, log
    assert f"{final.queue_id}: client=unknown[{OUTSIDE}]" in log, log


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxied_client_in_mynetworks_may_relay(pd, version):
    content = mp.build_message("relayed")
    with proxied(pd, HEADERS[version]("127.0.0.5")) as c:
        c.greeting()
        replies, final = c.send_message("a@inside.test", ["user@other.net"], content)
    assert [r.code for r in replies] == [250, 250, 354], replies
    assert final.code == 250, final
    qf = mp.assert_stored(pd, final.queue_id, content)
    assert "[127.0.0.5]" in mp.split_received(qf.content)[0].decode()
    assert f"{final.queue_id}: client=unknown[127.0.0.5]" in pd.log_text()


def test_proxied_ipv6_client_and_tlvs(pd):
    for header in (v1("2001:db8::10", "2001:db8::25"), v2("2001:db8::10", "::1", tlvs=b"\x04\x00\x02ab")):
        with proxied(pd, header) as c:
            c.greeting()
            c.ehlo()
            assert c.cmd("MAIL FROM:<a@outside.test>").code == 250
            r = c.cmd("RCPT TO:<user@other.net>")
            assert r.code == 554, r
    assert "connect from unknown[2001:db8::10]" in pd.log_text()


@pytest.mark.parametrize("header", [b"PROXY UNKNOWN\r\n", v2("", command=0)], ids=["v1-unknown", "v2-local"])
def test_unknown_and_local_keep_the_proxys_address(make_proxy_daemon, header):
    d = make_proxy_daemon({"mynetworks": "127.0.0.1/32"})
    with proxied(d, header, source="127.0.0.1") as c:
        c.greeting()
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@x.test>").code == 250
        assert c.cmd("RCPT TO:<user@other.net>").code == 250  # 127.0.0.1 is in mynetworks
    with proxied(d, header, source="127.0.0.2") as c:
        c.greeting()
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@x.test>").code == 250
        assert c.cmd("RCPT TO:<user@other.net>").code == 554  # 127.0.0.2 is not


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_untrusted_sender_of_a_proxy_header_is_refused(make_proxy_daemon, version):
    d = make_proxy_daemon({"proxy_trusted": "127.0.0.2/32"})
    c = proxied(d, HEADERS[version]("127.0.0.5") + b"EHLO x\r\nMAIL FROM:<a@x.test>\r\n",
                source="127.0.0.1")
    try:
        assert refused(c), c.buf
    finally:
        c.close()
    mp.wait_until(lambda: "PROXY header from untrusted unknown[127.0.0.1]" in d.log_text(),
                  what="the untrusted-PROXY warning")
    assert "warning: PROXY header from untrusted unknown[127.0.0.1]" in d.log_text()
    assert "connect from unknown[127.0.0.5]" not in d.log_text()
    assert d.queued_ids() == set()
    # The same header from the trusted address is fine.
    with proxied(d, HEADERS[version]("127.0.0.5"), source="127.0.0.2") as c:
        c.greeting()


@pytest.mark.parametrize(
    "header",
    [
        b"PROXY TCP4 192.0.2.10 127.0.0.1 40000\r\n",
        b"PROXY TCP4 192.0.2.300 127.0.0.1 40000 25\r\n",
        b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\n",
        b"EHLO client.test\r\n",
        b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + bytes(12),  # v2 over UDP
        b"\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x0c" + bytes(12),  # version 1 in a v2 header
    ],
    ids=["v1-fields", "v1-address", "v1-bare-lf", "plain-smtp", "v1-too-long", "v2-udp", "v2-version"],
)
def test_malformed_header_from_a_trusted_peer_closes(pd, header):
    c = proxied(pd, header)
    try:
        assert refused(c), c.buf
    finally:
        c.close()
    mp.wait_until(lambda: "malformed PROXY header" in pd.log_text(), what="the malformed-header warning")
    assert pd.queued_ids() == set()


def test_no_header_in_time_closes_without_greeting(make_proxy_daemon):
    d = make_proxy_daemon({"smtpd_timeout": "1s"})
    with d.client("proxy", source="127.0.0.1", limit=5.0) as c:
        assert refused(c), c.buf
    mp.wait_until(lambda: "timeout while waiting for the PROXY header" in d.log_text(),
                  what="the PROXY timeout warning")


def test_plain_listener_is_unaffected(pd):
    with pd.session(source="127.0.0.1") as c:
        assert c.cmd("MAIL FROM:<a@x.test>").code == 250
        assert c.cmd("RCPT TO:<user@other.net>").code == 250
    # A PROXY line on a plain listener is just a bad command.
    with pd.session(source="127.0.0.1", ehlo=False) as c:
        assert c.cmd(v1(OUTSIDE).rstrip(b"\r\n")).code == 500


def test_per_ip_limit_counts_the_proxied_address(make_proxy_daemon):
    d = make_proxy_daemon({"max_connections_per_ip": 1})
    with proxied(d, v1("192.0.2.1")) as a, proxied(d, v2("192.0.2.2")) as b:
        a.greeting()
        b.greeting()  # same proxy, another client: allowed
        with proxied(d, v2("192.0.2.1")) as c:
            r = c.reply()
            assert r.code == 421 and r.enhanced == "4.7.0", r
    assert "too many connections from unknown[192.0.2.1]" in d.log_text()


def test_proxy_lmtp_listener(make_proxy_daemon):
    d = make_proxy_daemon(listeners=(("smtp", "127.0.0.1"), ("proxy:lmtp", "127.0.0.1")))
    content = mp.build_message("lmtp via proxy")
    with proxied(d, v2(OUTSIDE), proto="proxy:lmtp") as c:
        c.greeting()
        c.ehlo(verb="LHLO")
        assert c.cmd("MAIL FROM:<a@x.test>").code == 250
        assert c.cmd("RCPT TO:<user@other.net>").code == 554
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(mp.dot_stuff(content) + b".\r\n")
        final = c.reply()
        assert final.code == 250, final
    qf = mp.assert_stored(d, final.queue_id, content)
    assert f"[{OUTSIDE}]" in mp.split_received(qf.content)[0].decode()


def test_check_refuses_a_proxy_listener_without_trusted_peers(make_proxy_daemon):
    d = make_proxy_daemon({"proxy_trusted": None}, start=False)
    d.write_conf()
    r = d.tool("mailprocd", "check")
    assert r.returncode == 1, mp.out(r)
    assert "expects PROXY headers but proxy_trusted is empty" in mp.out(r), mp.out(r)
    assert f"{d.conf_path}:" in mp.out(r), mp.out(r)
