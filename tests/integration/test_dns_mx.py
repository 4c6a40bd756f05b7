"""MX delivery against a real DNS server: ldns-testns serves a test zone on
127.0.0.1:PORT (`dns_servers`), every MX host is a 127.0.0.x address where a
recording sink listens on one shared port (`smtp_port`), and no relayhost is
set, so routing defaults to `mx`. Covered: RFC 5321 preference order,
failover to the next MX in the same attempt, A fallback when there is no MX,
null MX (RFC 7505) and NXDOMAIN bounce with an NDR back to the sender (whose
domain is MX-routed too), SERVFAIL and a DNS server that never answers defer,
`mx:other.domain`, and connection reuse to one MX."""

import re

import pytest

import mp
import peers
import sinks
from peers import make_dns  # noqa: F401  (fixture)

SENDER = "alice@sender.test"
SENDER_MX = "127.0.0.9"  # where NDRs to SENDER arrive


def zone_with_sender():
    return peers.Zone().mx("sender.test", 10, "mx.sender.test").a("mx.sender.test", SENDER_MX)


def mx_daemon(make_daemon, dns_address: str, port: int, **extra):
    conf = dict(sinks.FAST, relayhost=None, dns_servers=dns_address, smtp_port=port)
    conf.update(extra)
    return make_daemon(conf)


@pytest.fixture
def mx_sinks():
    """factory(hosts, down=()) -> (port, {host: RecordingSink}): a sink on each
    127.0.0.x of `hosts` and a refusing port on each of `down`, all on one
    port (the daemon's smtp_port); all closed at teardown."""
    made = []

    def factory(hosts, down=()):
        port, by_host, closed = peers.same_port_sinks(hosts, down)
        made.append((by_host, closed))
        return port, by_host

    yield factory
    for by_host, closed in made:
        for s in by_host.values():
            s.stop()
        for c in closed:
            c.close()


def sent_lines(d, qid):
    return [e for e in sinks.deliveries(d, qid) if e.status == "sent"]


def test_mx_preference_order(make_daemon, make_dns, mx_sinks):
    # Listed least preferred first: the order of the answer must not matter.
    zone = (peers.Zone().mx("pref.test", 30, "mx3.pref.test").mx("pref.test", 10, "mx1.pref.test")
            .mx("pref.test", 20, "mx2.pref.test")
            .a("mx1.pref.test", "127.0.0.2").a("mx2.pref.test", "127.0.0.3").a("mx3.pref.test", "127.0.0.4"))
    dns = make_dns(zone)
    port, sink = mx_sinks(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    d = mx_daemon(make_daemon, dns.address, port)
    qids = []
    for n in range(3):
        content = sinks.message(f"pref {n}", sender=SENDER, to=f"u{n}@pref.test")
        qids.append(sinks.send(d, SENDER, [f"u{n}@pref.test"], content))
    for qid in qids:
        sinks.wait_removed(d, qid, limit=30)
    assert len(sink["127.0.0.2"].delivered()) == 3, [t.accepted for t in sink["127.0.0.2"].delivered()]
    assert sink["127.0.0.3"].connections == 0 and sink["127.0.0.4"].connections == 0
    for qid in qids:
        (line,) = sent_lines(d, qid)
        assert line.relay == f"mx1.pref.test[127.0.0.2]:{port}", line.line


def test_mx_failover_to_second_mx(make_daemon, make_dns, mx_sinks):
    zone = (peers.Zone().mx("fo.test", 10, "mx1.fo.test").mx("fo.test", 20, "mx2.fo.test")
            .a("mx1.fo.test", "127.0.0.2").a("mx2.fo.test", "127.0.0.3"))
    dns = make_dns(zone)
    port, sink = mx_sinks(["127.0.0.3"], down=["127.0.0.2"])  # the preferred MX refuses connections
    d = mx_daemon(make_daemon, dns.address, port)
    content = sinks.message("failover", sender=SENDER, to="bob@fo.test")
    qid = sinks.send(d, SENDER, ["bob@fo.test"], content)
    sinks.wait_removed(d, qid, limit=30)
    (t,) = sink["127.0.0.3"].delivered()
    assert t.accepted == ["bob@fo.test"] and mp.split_received(t.data)[1] == content
    lines = sinks.deliveries(d, qid)
    # Failover happens inside the one attempt: no deferral first.
    assert [e.status for e in lines] == ["sent"], [e.line for e in lines]
    assert lines[0].relay == f"mx2.fo.test[127.0.0.3]:{port}", lines[0].line


def test_a_record_fallback_without_mx(make_daemon, make_dns, mx_sinks):
    zone = peers.Zone().a("plain.test", "127.0.0.5")  # no MX: NOERROR, no data
    dns = make_dns(zone)
    port, sink = mx_sinks(["127.0.0.5"])
    d = mx_daemon(make_daemon, dns.address, port)
    content = sinks.message("a fallback", sender=SENDER, to="carol@plain.test")
    qid = sinks.send(d, SENDER, ["carol@plain.test"], content)
    sinks.wait_removed(d, qid, limit=30)
    (t,) = sink["127.0.0.5"].delivered()
    assert t.accepted == ["carol@plain.test"] and mp.split_received(t.data)[1] == content
    (line,) = sent_lines(d, qid)
    assert line.relay == f"plain.test[127.0.0.5]:{port}", line.line


def assert_ndr(sink, qid_rcpt: str, status_re: str):
    (ndr,) = sink.wait_delivered(1, limit=30)
    assert ndr.sender == "" and ndr.accepted == [SENDER], (ndr.sender, ndr.rcpts)
    _msg, _per_msg, rcpts = sinks.parse_report(ndr.data)
    (r,) = rcpts
    assert sinks.field_value(r, "Final-Recipient") == qid_rcpt
    assert sinks.field_value(r, "Action") == "failed"
    assert re.fullmatch(status_re, sinks.field_value(r, "Status")), r.items()


def test_null_mx_bounces(make_daemon, make_dns, mx_sinks):
    zone = zone_with_sender().null_mx("nullmx.test").a("nullmx.test", "127.0.0.6")
    dns = make_dns(zone)
    port, sink = mx_sinks([SENDER_MX, "127.0.0.6"])
    d = mx_daemon(make_daemon, dns.address, port)
    content = sinks.message("null mx", sender=SENDER, to="dave@nullmx.test")
    qid = sinks.send(d, SENDER, ["dave@nullmx.test"], content)
    (line,) = sinks.wait_status(d, qid, "bounced", limit=30)
    assert line.dsn == "5.1.10", line.line
    assert_ndr(sink[SENDER_MX], "dave@nullmx.test", r"5\.1\.10")
    # A null MX means "accepts no mail": no A fallback either.
    assert sink["127.0.0.6"].connections == 0
    sinks.wait_removed(d, qid, limit=30)


def test_nxdomain_bounces(make_daemon, make_dns, mx_sinks):
    zone = zone_with_sender().nxdomain("nowhere.test")
    dns = make_dns(zone)
    port, sink = mx_sinks([SENDER_MX])
    d = mx_daemon(make_daemon, dns.address, port)
    content = sinks.message("nxdomain", sender=SENDER, to="erin@nowhere.test")
    qid = sinks.send(d, SENDER, ["erin@nowhere.test"], content)
    (line,) = sinks.wait_status(d, qid, "bounced", limit=30)
    assert line.dsn.startswith("5."), line.line
    assert not [e for e in sinks.deliveries(d, qid) if e.status == "deferred"], "NXDOMAIN was retried"
    assert_ndr(sink[SENDER_MX], "erin@nowhere.test", r"5\.\d{1,3}\.\d{1,3}")
    sinks.wait_removed(d, qid, limit=30)


def assert_deferred_not_bounced(d, qid, domain: str):
    (line,) = sinks.wait_status(d, qid, "deferred", limit=60)[:1]
    # A DNS (routing) failure, naming the domain looked up: not some other tempfail.
    assert line.dsn.startswith("4.4.") and domain in line.text, line.line
    assert mp.wait_until(lambda: mp.find_queue_file(d.spool, qid, ("deferred",)), 15,
                         what=f"{qid} in deferred/")
    assert not [e for e in sinks.deliveries(d, qid) if e.status == "bounced"]
    assert not sinks.ndr_ids(d, qid)


def test_servfail_defers(make_daemon, make_dns, mx_sinks):
    zone = zone_with_sender().servfail("broken.test")
    dns = make_dns(zone)
    port, _sink = mx_sinks([SENDER_MX])
    d = mx_daemon(make_daemon, dns.address, port)
    content = sinks.message("servfail", sender=SENDER, to="frank@broken.test")
    qid = sinks.send(d, SENDER, ["frank@broken.test"], content)
    assert_deferred_not_bounced(d, qid, "broken.test")


def test_dns_server_not_answering_defers(make_daemon, mx_sinks):
    hole = peers.BlackholeDns()
    try:
        port, _sink = mx_sinks(["127.0.0.2"])
        d = mx_daemon(make_daemon, hole.address, port)
        content = sinks.message("no dns", sender=SENDER, to="gina@pref.test")
        qid = sinks.send(d, SENDER, ["gina@pref.test"], content)
        assert_deferred_not_bounced(d, qid, "pref.test")
    finally:
        hole.close()


def test_mx_of_other_domain_from_transport(make_daemon, make_dns, mx_sinks):
    # `mx:relay.test`: the MX hosts of relay.test, not of the recipient's domain.
    zone = (peers.Zone().mx("relay.test", 10, "mx.relay.test").a("mx.relay.test", "127.0.0.7")
            .mx("example.org", 10, "mx.example.org").a("mx.example.org", "127.0.0.8"))
    dns = make_dns(zone)
    port, sink = mx_sinks(["127.0.0.7", "127.0.0.8"])
    d = make_daemon(dict(sinks.FAST, relayhost=None, dns_servers=dns.address, smtp_port=port), start=False)
    d.conf["transport"] = str(sinks.write_map(d.dir / "transport", ["example.org mx:relay.test"]))
    d.start()
    content = sinks.message("mx other", sender=SENDER, to="hank@example.org")
    qid = sinks.send(d, SENDER, ["hank@example.org"], content)
    sinks.wait_removed(d, qid, limit=30)
    assert [t.accepted for t in sink["127.0.0.7"].delivered()] == [["hank@example.org"]]
    assert sink["127.0.0.8"].connections == 0


def test_mx_connection_reuse(make_daemon, make_dns, mx_sinks):
    zone = peers.Zone().mx("reuse.test", 10, "mx.reuse.test").a("mx.reuse.test", "127.0.0.2")
    dns = make_dns(zone)
    port, sink = mx_sinks(["127.0.0.2"])
    d = mx_daemon(make_daemon, dns.address, port, smtp_connection_cache_time="10s")
    n = 100
    with d.session() as c:
        for i in range(n):
            content = sinks.message(f"reuse {i}", sender=SENDER, to=f"r{i}@reuse.test")
            replies, final = c.send_message(SENDER, [f"r{i}@reuse.test"], content, ehlo=False)
            assert final is not None and final.code == 250, (replies, final)
        c.cmd("QUIT")
    sink["127.0.0.2"].wait_delivered(n, limit=90)
    sinks.wait_queue_empty(d, limit=30)
    got = sorted(a for t in sink["127.0.0.2"].delivered() for a in t.accepted)
    assert got == sorted(f"r{i}@reuse.test" for i in range(n))
    assert sink["127.0.0.2"].connections < 30, f"{sink['127.0.0.2'].connections} connections for {n} messages"
