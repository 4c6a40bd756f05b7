"""Relay delivery end to end: mail accepted by mailprocd leaves through
`relayhost` and reaches a real SMTP peer (Postfix's smtp-sink, or the
recording sink of sinks.py) byte for byte, with our Received: header
prepended; the queue is then empty and the log says "removed". Several relay
hosts are used round robin, and a host that is down is skipped (failover)."""

import re

import pytest

import mp
import sinks
from sinks import make_postfix_sink, make_sink  # noqa: F401  (fixtures)

# A body that exercises transparency and long lines (SPEC: kept intact).
BODY = (
    b"first line\r\n"
    b".a line starting with a dot\r\n"
    b"..two dots\r\n"
    b".\r\n"
    b"trailing blanks   \r\n"
    b"\ttab at the start\r\n"
    + b"x" * 1500 + b"\r\n"
    b"From the middle of a line, mbox style\r\n"
    b"\r\n"
    b"last line\r\n"
)


def relay_conf(*hosts, **extra):
    conf = dict(sinks.FAST)
    conf["relayhost"] = ", ".join(hosts)
    conf.update(extra)
    return conf


def test_relayhost_delivers_byte_exact(make_daemon, make_sink):
    sink = make_sink("relay")
    d = make_daemon(relay_conf(sink.hostport))
    rcpts = ["bob@example.net", "carol@example.org"]
    content = sinks.message("byte exact", BODY, "alice@example.com", rcpts[0])
    qid = sinks.send(d, "alice@example.com", rcpts, content)

    sinks.wait_removed(d, qid)
    got = sink.delivered()
    # Both recipients share the next hop: one transaction carries both.
    assert len(got) == 1, [(t.sender, t.rcpts) for t in got]
    t = got[0]
    assert t.sender == "alice@example.com"
    assert sorted(t.accepted) == sorted(rcpts), t.rcpts
    assert t.helo == "mx.test", t.helo
    received, rest = mp.split_received(t.data)
    assert rest == content, f"content differs at the sink:\n{rest[:300]!r}\n{content[:300]!r}"
    assert b"by mx.test" in received and f"id {qid}".encode() in received, received
    assert d.queued_ids() == set(), "queue not empty (archive included) after delivery"

    sent = sinks.deliveries(d, qid)
    assert sorted(e.to for e in sent) == sorted(rcpts), [e.line for e in sent]
    for e in sent:
        assert e.status == "sent" and e.dsn.startswith("2."), e.line
        assert re.search(r", delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=", e.line), e.line
        assert e.relay == f"127.0.0.1[127.0.0.1]:{sink.port}", e.line
    assert re.search(rf"{qid}: from=<alice@example.com>, size=\d+, nrcpt=2 \(queue active\)", d.log_text())


def test_smtp_sink_dumps_every_message(make_daemon, make_postfix_sink):
    pf = make_postfix_sink("dump")
    d = make_daemon(relay_conf(pf.hostport))
    sent = {}
    for n in range(5):
        rcpt = f"user{n}@example.net"
        content = sinks.message(f"dump {n}", BODY + b"message %d\r\n" % n, f"s{n}@example.com", rcpt)
        qid = sinks.send(d, f"s{n}@example.com", [rcpt], content)
        sent[qid] = (f"s{n}@example.com", rcpt, content)
    for qid in sent:
        sinks.wait_removed(d, qid)

    dumps = pf.dumps()
    assert len(dumps) == len(sent), [str(x.path) for x in dumps]
    by_rcpt = {x.rcpts[0]: x for x in dumps}
    for qid, (sender, rcpt, content) in sent.items():
        x = by_rcpt[rcpt]
        assert x.sender == sender and x.rcpts == [rcpt], (x.sender, x.rcpts)
        received, rest = mp.split_received(x.content)
        assert rest == sinks.to_lf(content), f"{qid}: content differs at smtp-sink"
        assert f"id {qid}".encode() in received
    assert d.queued_ids() == set()


def test_two_relay_hosts_round_robin(make_daemon, make_sink):
    a, b = make_sink("a"), make_sink("b")
    d = make_daemon(relay_conf(a.hostport, b.hostport))
    order = []
    for n in range(6):
        qid = sinks.send(d, "rr@example.com", [f"r{n}@example.net"], sinks.message(f"rr {n}"))
        sinks.wait_removed(d, qid)
        relays = [e.relay for e in sinks.deliveries(d, qid) if e.status == "sent"]
        assert len(relays) == 1, relays
        order.append("a" if relays[0].endswith(f":{a.port}") else "b")
    print("round robin order:", order)
    assert len(a.delivered()) + len(b.delivered()) == 6
    # Successive deliveries start at the next host: strict alternation.
    assert len(a.delivered()) == 3 and len(b.delivered()) == 3, order
    assert all(x != y for x, y in zip(order, order[1:])), order


def test_relay_host_down_fails_over_to_the_live_one(make_daemon, make_sink):
    live = make_sink("live")
    down = mp.ClosedPort()
    try:
        d = make_daemon(relay_conf(f"127.0.0.1:{down.port}", live.hostport))
        qids = []
        for n in range(4):
            qid = sinks.send(d, "fo@example.com", [f"f{n}@example.net"], sinks.message(f"failover {n}"))
            sinks.wait_removed(d, qid)
            qids.append(qid)
    finally:
        down.close()
    assert len(live.delivered()) == 4, [t.rcpts for t in live.delivered()]
    for qid in qids:
        lines = sinks.deliveries(d, qid)
        # The dead host is skipped within the same attempt: never deferred.
        assert [e.status for e in lines] == ["sent"], [e.line for e in lines]
        assert lines[0].relay.endswith(f":{live.port}"), lines[0].line


def test_all_relay_hosts_down_defers_with_the_reason(make_daemon):
    downs = [mp.ClosedPort(), mp.ClosedPort()]
    try:
        d = make_daemon(relay_conf(*(f"127.0.0.1:{p.port}" for p in downs)))
        qid = sinks.send(d, "x@example.com", ["y@example.net"], sinks.message("all down"))
        e = sinks.wait_status(d, qid, "deferred")[0]
        mp.wait_until(lambda: (d.spool / "deferred" / qid).is_file(), 10, what=f"{qid} in deferred/")
    finally:
        for p in downs:
            p.close()
    assert e.dsn.startswith("4."), e.line
    assert "refused" in e.text.lower(), e.line
    qf = mp.parse_queue_file(d.spool / "deferred" / qid)
    reasons = [mp.unescape(r).lower() for r in qf.records if r.startswith("R 0 deferred")]
    assert reasons and all("refused" in r for r in reasons), qf.records


def test_greeting_421_host_is_skipped(make_daemon, make_sink):
    busy, live = make_sink("busy"), make_sink("live")
    busy.greetings = ["421 4.7.0 busy.sink.test too busy, try later"]
    d = make_daemon(relay_conf(busy.hostport, live.hostport))
    qids = [sinks.send(d, "s@example.com", [f"g{n}@example.net"], sinks.message(f"421 {n}")) for n in range(2)]
    for qid in qids:
        sinks.wait_removed(d, qid)
        assert [e.status for e in sinks.deliveries(d, qid)] == ["sent"], [e.line for e in sinks.deliveries(d, qid)]
    assert len(live.delivered()) == 2 and busy.transactions == []
    assert busy.connections >= 1, "the 421 host was never tried: round robin should start there once"


def test_connection_lost_in_data_is_retried_and_delivered_once(make_daemon, make_sink):
    sink = make_sink("flaky")
    sink.drop_in_data = 1
    d = make_daemon(relay_conf(sink.hostport))
    content = sinks.message("lost in data", BODY)
    qid = sinks.send(d, "s@example.com", ["r@example.net"], content)
    sinks.wait_removed(d, qid, limit=20)
    (t,) = sink.delivered()
    assert mp.split_received(t.data)[1] == content
    assert [e.status for e in sinks.deliveries(d, qid)] == ["deferred", "sent"], \
        [e.line for e in sinks.deliveries(d, qid)]


def test_data_rejected_bounces_every_recipient_with_one_ndr(make_daemon, make_sink):
    sink = make_sink("picky")
    sink.data_replies = ["554 5.7.1 message content rejected", "250 2.0.0 Ok: queued"]
    d = make_daemon(relay_conf(sink.hostport))
    qid = sinks.send(d, "s@example.com", ["r1@example.net", "r2@example.net"], sinks.message("rejected"))
    sinks.wait_removed(d, qid)
    sinks.wait_queue_empty(d)
    bounced = sinks.deliveries(d, qid)
    assert sorted((e.to, e.status, e.dsn) for e in bounced) == [
        ("r1@example.net", "bounced", "5.7.1"), ("r2@example.net", "bounced", "5.7.1")], [e.line for e in bounced]
    (ndr,) = sink.delivered()
    assert ndr.sender == "" and ndr.accepted == ["s@example.com"]
    _, _, rcpts = sinks.parse_report(ndr.data)
    assert sorted(sinks.field_value(r, "Final-Recipient") for r in rcpts) == ["r1@example.net", "r2@example.net"]
    assert all("content rejected" in sinks.field_value(r, "Diagnostic-Code") for r in rcpts)


def send_with_params(d, mail_cmd, rcpt, content):
    with d.session() as c:
        for line in (mail_cmd, f"RCPT TO:<{rcpt}>"):
            r = c.cmd(line)
            assert r.code == 250, (line, r)
        assert c.cmd("DATA").code == 354
        c.send(mp.dot_stuff(content) + b".\r\n")
        final = c.reply()
    assert final.code == 250, final
    return final.queue_id


UTF8_RCPT = "j\u00f6rg@example.net"


def test_smtputf8_message_to_a_host_without_it_bounces_5_6_7(make_daemon, make_sink):
    sink = make_sink("ascii-only")
    sink.extensions = [x for x in sink.extensions if x != "SMTPUTF8"]
    d = make_daemon(relay_conf(sink.hostport))
    content = "Subject: gr\u00fc\u00dfe\r\nTo: <j\u00f6rg@example.net>\r\n\r\nk\u00e4se\r\n".encode()
    qid = send_with_params(d, "MAIL FROM:<s@example.com> SMTPUTF8", UTF8_RCPT, content)
    sinks.wait_removed(d, qid)
    sinks.wait_queue_empty(d)
    (e,) = sinks.deliveries(d, qid)
    assert e.status == "bounced" and e.dsn == "5.6.7", e.line
    ndrs = sink.delivered()
    assert [t.sender for t in ndrs] == [""] and ndrs[0].accepted == ["s@example.com"], [t.rcpts for t in ndrs]
    _, _, (r,) = sinks.parse_report(ndrs[0].data)
    assert sinks.field_value(r, "Status") == "5.6.7"


def test_smtputf8_and_8bitmime_are_passed_on(make_daemon, make_sink):
    sink = make_sink("utf8")
    d = make_daemon(relay_conf(sink.hostport))
    utf8 = "Subject: gr\u00fc\u00dfe\r\n\r\nk\u00e4se \u00e9t\u00e9\r\n".encode()
    q1 = send_with_params(d, "MAIL FROM:<s@example.com> SMTPUTF8", UTF8_RCPT, utf8)
    eight = b"Subject: latin1\r\n\r\nbyte \xe9\xff\x80 kept\r\n"
    q2 = send_with_params(d, "MAIL FROM:<s@example.com> BODY=8BITMIME", "r@example.net", eight)
    for q in (q1, q2):
        sinks.wait_removed(d, q)
    t1, t2 = sorted(sink.delivered(), key=lambda t: t.accepted[0] != UTF8_RCPT)
    assert t1.accepted == [UTF8_RCPT] and "SMTPUTF8" in t1.mail_params.upper(), t1.mail_params
    assert mp.split_received(t1.data)[1] == utf8
    assert "BODY=8BITMIME" in t2.mail_params.upper(), t2.mail_params
    assert mp.split_received(t2.data)[1] == eight


def test_ipv6_relay_host(make_daemon, make_sink):
    if not mp.ipv6_loopback_available():
        pytest.skip("no IPv6 loopback on this machine")
    sink = make_sink("v6", host="::1")
    d = make_daemon(relay_conf(sink.hostport))
    content = sinks.message("over ipv6")
    qid = sinks.send(d, "s@example.com", ["r@example.net"], content)
    sinks.wait_removed(d, qid)
    (t,) = sink.delivered()
    assert mp.split_received(t.data)[1] == content
    (e,) = sinks.deliveries(d, qid)
    assert "::1" in e.relay and e.relay.endswith(f":{sink.port}"), e.line


def test_large_message_byte_exact(make_daemon, make_sink):
    sink = make_sink("big")
    d = make_daemon(relay_conf(sink.hostport))
    body = b"".join(b"%07d " % i + b"abcdefghij" * 7 + b"\r\n" + (b".\r\n" if i % 97 == 0 else b"")
                    for i in range(40000))
    content = sinks.message("big", body)
    assert len(content) > 3_000_000
    qid = sinks.send(d, "s@example.com", ["r@example.net"], content)
    sinks.wait_removed(d, qid, limit=30)
    (t,) = sink.delivered()
    assert mp.split_received(t.data)[1] == content


def test_delivery_concurrency_limits_parallel_deliveries(make_daemon, make_sink):
    sink = make_sink("slow")
    sink.data_delay = 0.3
    d = make_daemon(relay_conf(sink.hostport, delivery_concurrency=2))
    with d.session() as c:
        qids = []
        for n in range(8):
            _, final = c.send_message("s@example.com", [f"c{n}@example.net"], sinks.message(f"conc {n}"), ehlo=n == 0)
            assert final.code == 250, final
            qids.append(final.queue_id)
    for qid in qids:
        sinks.wait_removed(d, qid, limit=30)
    assert len(sink.delivered()) == 8
    print("peak parallel deliveries:", sink.peak_in_data)
    assert 1 <= sink.peak_in_data <= 2, sink.peak_in_data
