"""Retries and non-delivery reports end to end (retry_min 1s, retry_max 2s,
queue_run_interval 1s): a next hop that is down defers the message with the
reason and a later attempt delivers it; a recipient answered 451 is retried
alone; 5xx replies and maxqueuetime produce exactly one RFC 3464 NDR per
message to the sender (archived with archive = yes), and never one to <>."""

import re

import pytest

import mp
import sinks
from sinks import make_sink  # noqa: F401  (fixture)


def test_next_hop_down_defers_then_a_retry_delivers(make_daemon, make_sink):
    hole = mp.ClosedPort()
    port = hole.port
    try:
        d = make_daemon(dict(sinks.FAST, relayhost=f"127.0.0.1:{port}"))
        content = sinks.message("retry me")
        qid = sinks.send(d, "s@example.com", ["r@example.net"], content)
        (e,) = sinks.wait_status(d, qid, "deferred")[:1]
        assert e.dsn.startswith("4.") and "refused" in e.text.lower(), e.line
        mp.wait_until(lambda: (d.spool / "deferred" / qid).is_file(), 10, what=f"{qid} in deferred/")
        qf = mp.parse_queue_file(d.spool / "deferred" / qid)
        assert any(r.startswith("R 0 deferred ") for r in qf.records), qf.records
        # Backoff between retry_min (1s) and retry_max (2s): the A record's next
        # attempt is that far from the R record's time.
        when = int(next(r for r in qf.records if r.startswith("R 0 deferred ")).split()[3])
        nxt = int(next(r for r in qf.records if r.startswith("A ")).split()[2])
        assert 1 <= nxt - when <= 2, qf.records
    finally:
        hole.close()
    sink = make_sink("late", port=port)  # the next hop comes up on the same port
    sinks.wait_removed(d, qid, limit=20)
    (t,) = sink.delivered()
    assert t.accepted == ["r@example.net"] and mp.split_received(t.data)[1] == content
    statuses = [x.status for x in sinks.deliveries(d, qid)]
    assert statuses[-1] == "sent" and set(statuses[:-1]) == {"deferred"}, statuses
    assert d.queued_ids() == set()


def test_only_the_tempfailed_recipient_is_retried(make_daemon, make_sink):
    sink = make_sink("split")
    sink.set_rcpt_reply("later@example.net", "451 4.2.0 <later@example.net>: try again", "250 2.1.5 Ok")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport))
    content = sinks.message("split")
    qid = sinks.send(d, "s@example.com", ["now@example.net", "later@example.net"], content)
    sinks.wait_removed(d, qid, limit=20)

    got = sink.delivered()
    assert [t.accepted for t in got] == [["now@example.net"], ["later@example.net"]], [t.rcpts for t in got]
    # The second attempt names only the recipient still pending.
    assert [r for r, _ in got[1].rcpts] == ["later@example.net"], got[1].rcpts
    assert sum(t.accepted.count("now@example.net") for t in got) == 1
    for t in got:
        assert mp.split_received(t.data)[1] == content
    now = [e.status for e in sinks.deliveries(d, qid, to="now@example.net")]
    later = [e for e in sinks.deliveries(d, qid, to="later@example.net")]
    assert now == ["sent"], now
    assert [e.status for e in later] == ["deferred", "sent"], [e.line for e in later]
    assert later[0].dsn == "4.2.0" and "try again" in later[0].text, later[0].line
    assert sinks.ndr_ids(d, qid) == []


def test_permanent_failures_give_one_ndr_for_the_message(make_daemon, make_sink):
    sink = make_sink("relay")
    for bad in ("b1@example.net", "b2@example.net"):
        sink.set_rcpt_reply(bad, f"550 5.1.1 <{bad}>: Recipient address rejected: User unknown")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport))
    content = sinks.message("two bounce", sender="s@example.com")
    qid = sinks.send(d, "s@example.com", ["ok@example.net", "b1@example.net", "b2@example.net"], content)
    sinks.wait_removed(d, qid)
    sinks.wait_queue_empty(d)
    ndrs = [t for t in sink.delivered() if t.sender == ""]
    normal = [t for t in sink.delivered() if t.sender != ""]
    assert [t.accepted for t in normal] == [["ok@example.net"]]
    assert len(ndrs) == 1, f"{len(ndrs)} NDRs: one per message and event expected"
    ndr = ndrs[0]
    assert ndr.accepted == ["s@example.com"]
    msg, per_msg, rcpts = sinks.parse_report(ndr.data)
    assert sinks.field_value(per_msg, "Reporting-MTA") == "mx.test"
    assert sorted(sinks.field_value(r, "Final-Recipient") for r in rcpts) == ["b1@example.net", "b2@example.net"]
    for r in rcpts:
        assert sinks.field_value(r, "Action") == "failed"
        assert sinks.field_value(r, "Status") == "5.1.1", r.items()
        diag = sinks.field_value(r, "Diagnostic-Code")
        assert diag.startswith("550") and "User unknown" in diag, diag
    # The original headers come back.
    returned = sinks.returned_headers(msg)
    mid = next(l for l in content.split(b"\r\n") if l.startswith(b"Message-ID:"))
    assert b"Subject: two bounce" in returned and mid in returned, returned
    assert [e.status for e in sinks.deliveries(d, qid, to="b1@example.net")] == ["bounced"]


def expiry_setup(make_daemon, make_sink, hole, **extra):
    sink = make_sink("relay")
    # Mail to dead.test can never be delivered; the sender's domain routes to the sink.
    conf = dict(sinks.FAST, relayhost=sink.hostport, maxqueuetime="3s")
    conf.update(extra)
    d = make_daemon(conf, start=False)
    transport = sinks.write_map(d.dir / "transport", [f"dead.test 127.0.0.1:{hole.port}"])
    d.conf["transport"] = str(transport)
    d.start()
    return d, sink


@pytest.mark.parametrize("archive", [False, True], ids=["removed", "archived"])
def test_maxqueuetime_sends_exactly_one_ndr(make_daemon, make_sink, archive):
    hole = mp.ClosedPort()
    try:
        d, sink = expiry_setup(make_daemon, make_sink, hole, archive=archive)
        content = sinks.message("expires", sender="a@live.test", to="x@dead.test")
        qid = sinks.send(d, "a@live.test", ["x@dead.test"], content)
        sinks.wait_removed(d, qid, limit=25, word="archived" if archive else "removed")
        (ndr,) = sink.wait_delivered(1, limit=15)
        sinks.wait_queue_empty(d)
    finally:
        hole.close()
    assert len(sink.delivered()) == 1, [t.accepted for t in sink.delivered()]
    assert ndr.sender == "" and ndr.accepted == ["a@live.test"], (ndr.sender, ndr.rcpts)
    msg, per_msg, rcpts = sinks.parse_report(ndr.data)
    (r,) = rcpts
    assert sinks.field_value(r, "Final-Recipient") == "x@dead.test"
    assert sinks.field_value(r, "Action") == "failed"
    assert re.fullmatch(r"4\.\d{1,3}\.\d{1,3}", sinks.field_value(r, "Status")), r["Status"]
    last = [e for e in sinks.deliveries(d, qid) if e.status == "deferred"][-1]
    diag = sinks.field_value(r, "Diagnostic-Code")
    assert "refused" in diag.lower(), (diag, last.line)
    assert len(sinks.ndr_ids(d, qid)) == 1
    assert any(e.status == "expired" for e in sinks.deliveries(d, qid)), [e.line for e in sinks.deliveries(d, qid)]
    archived = mp.queued_ids(d.spool, ("archive",))
    if archive:
        assert archived == {qid}, archived
        qf = mp.parse_queue_file(d.spool / "archive" / qid)
        assert any(rec.startswith("R 0 bounced ") for rec in qf.records), qf.records
    else:
        assert archived == set() and d.queued_ids() == set()


def test_no_ndr_for_the_null_sender(make_daemon, make_sink):
    hole = mp.ClosedPort()
    try:
        d, sink = expiry_setup(make_daemon, make_sink, hole)
        sink.set_rcpt_reply("bad@live.test", "550 5.1.1 <bad@live.test>: User unknown")
        q_expire = sinks.send(d, "", ["x@dead.test"], sinks.message("bounce of a bounce 1", sender=""))
        q_reject = sinks.send(d, "", ["bad@live.test"], sinks.message("bounce of a bounce 2", sender=""))
        sinks.wait_removed(d, q_reject)
        sinks.wait_removed(d, q_expire, limit=25)
        sinks.wait_queue_empty(d)
    finally:
        hole.close()
    assert [e.status for e in sinks.deliveries(d, q_reject)] == ["bounced"]
    assert "expired" in [e.status for e in sinks.deliveries(d, q_expire)]
    assert "non-delivery notification" not in d.log_text()
    # The only transaction is the refused one: no data, nothing ever sent to <>.
    assert sink.delivered() == []
    assert all(r != "" for t in sink.transactions for r, _ in t.rcpts)
    assert [t.rcpts for t in sink.transactions] == [[("bad@live.test", 550)]]


def test_delay_warning_is_sent_once(make_daemon, make_sink):
    hole = mp.ClosedPort()
    try:
        d, sink = expiry_setup(make_daemon, make_sink, hole, maxqueuetime="1h", delay_warning="2s")
        qid = sinks.send(d, "a@live.test", ["x@dead.test"], sinks.message("slow", sender="a@live.test"))
        (dsn,) = sink.wait_delivered(1, limit=20)
        tries = len(sinks.deliveries(d, qid))
        # One more attempt after the warning: still only one warning.
        sinks.wait_status(d, qid, "deferred", count=tries + 1, limit=20)
    finally:
        hole.close()
    assert len(sink.delivered()) == 1, [t.accepted for t in sink.delivered()]
    assert dsn.sender == "" and dsn.accepted == ["a@live.test"]
    msg, _, (r,) = sinks.parse_report(dsn.data)
    assert sinks.field_value(r, "Action") == "delayed"
    assert sinks.field_value(r, "Final-Recipient") == "x@dead.test"
    assert sinks.field_value(r, "Status").startswith("4.")
    assert qid in d.queued_ids(), "a delay warning must not end delivery attempts"
    assert "delay notification" in d.log_text()


def test_ndr_no_sends_no_report(make_daemon, make_sink):
    sink = make_sink("relay")
    sink.set_rcpt_reply("bad@example.net", "550 5.1.1 <bad@example.net>: User unknown")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport, ndr=False))
    qid = sinks.send(d, "s@example.com", ["bad@example.net"], sinks.message("no ndr"))
    sinks.wait_removed(d, qid)
    sinks.wait_queue_empty(d)
    assert [e.status for e in sinks.deliveries(d, qid)] == ["bounced"]
    assert sink.delivered() == [] and sinks.ndr_ids(d, qid) == []


def test_mail_loop_is_bounced_5_4_6(make_daemon, make_sink):
    sink = make_sink("relay")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport, max_hops=5))
    hops = b"".join(b"Received: from hop%d.test by hop%d.test; Sun, 22 Nov 2026 10:00:00 +0000\r\n" % (i, i + 1)
                    for i in range(6))
    content = hops + sinks.message("looping")
    with d.session() as c:
        replies, final = c.send_message("s@example.com", ["r@example.net"], content)
    if final.code != 250:  # refused at DATA: fine too, as long as it says why
        assert final.code == 554 and final.enhanced == "5.4.6", final
        return
    qid = final.queue_id
    sinks.wait_removed(d, qid)
    sinks.wait_queue_empty(d)
    (e,) = sinks.deliveries(d, qid)
    assert e.status == "bounced" and e.dsn == "5.4.6", e.line
    (ndr,) = sink.delivered()
    assert ndr.sender == "" and ndr.accepted == ["s@example.com"]
    _, _, (r,) = sinks.parse_report(ndr.data)
    assert sinks.field_value(r, "Status") == "5.4.6"
