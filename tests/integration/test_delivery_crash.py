"""Crash safety of delivery: mailprocd is killed with SIGKILL while messages
flow in (smtplib clients recording each 250) and out (to the recording sink);
after a restart every acknowledged message reaches the sink, and duplicates
stay within what was in flight (in active/) at the kill. A queue file placed
in incoming/ before the daemon starts is delivered too."""

import collections
import email
import email.policy
import os
import shutil
import smtplib
import threading

import mp
import sinks
from sinks import make_postfix_sink, make_sink  # noqa: F401  (fixtures)

TOTAL = 1000
THREADS = 8
KILL_AFTER_ACKS = 350  # kill once this many are acknowledged...
KILL_AFTER_DELIVERED = 100  # ...and this many delivered


def content_of(n):
    body = b"".join(b"message %d line %d\r\n" % (n, i) for i in range(20 + n % 30))
    return mp.build_message(f"crash {n}", body, "load@example.com", f"r{n}@example.net",
                            extra=f"Message-ID: <crash-{n}@load.test>\r\n".encode())


class Load:
    """THREADS smtplib clients, each sending its share of message numbers
    0..TOTAL-1. run() stops at the first connection error (the kill); a
    message whose transaction broke is `unsure` and never resent."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # message number -> queue ID
        self.unsure = set()
        self.unexpected = []
        self.todo = [list(range(t, TOTAL, THREADS)) for t in range(THREADS)]

    def run(self, d, t):
        s = None
        try:
            while self.todo[t]:
                n = self.todo[t][0]
                if s is None:
                    s = smtplib.SMTP(d.host, d.port, local_hostname=f"t{t}.test", timeout=mp.timeout(10))
                    s.ehlo()
                self.todo[t].pop(0)
                with self.lock:
                    self.unsure.add(n)
                codes = [s.mail("load@example.com")[0], s.rcpt(f"r{n}@example.net")[0]]
                if codes != [250, 250]:
                    with self.lock:
                        self.unexpected.append((n, codes))
                    s.rset()
                    continue
                try:
                    _, resp = s.data(content_of(n))
                except smtplib.SMTPDataError as e:
                    with self.lock:
                        self.unexpected.append((n, e.smtp_code, e.smtp_error))
                    continue
                qid = mp.QUEUED_AS.search(resp.decode()).group(1)
                with self.lock:
                    self.unsure.discard(n)
                    self.acked[n] = qid
        except (OSError, smtplib.SMTPException, EOFError):
            return  # the daemon died under us
        finally:
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass

    def start(self, d):
        threads = [threading.Thread(target=self.run, args=(d, t), daemon=True) for t in range(THREADS)]
        for th in threads:
            th.start()
        return threads

    def count(self):
        with self.lock:
            return len(self.acked)


def mid_of(content: bytes) -> str:
    return email.message_from_bytes(content, policy=email.policy.compat32)["Message-ID"]


def message_ids(sink):
    out = collections.Counter()
    for t in sink.delivered():
        out[t.message["Message-ID"]] += 1
    return out


def test_kill9_during_delivery_loses_no_acknowledged_message(make_daemon, make_sink):
    sink = make_sink("relay")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport, max_connections_per_ip=100))
    load = Load()
    threads = load.start(d)
    try:
        mp.wait_until(
            lambda: (load.count() >= KILL_AFTER_ACKS and len(sink.delivered()) >= KILL_AFTER_DELIVERED)
            or not any(th.is_alive() for th in threads),
            60, what=f"{KILL_AFTER_ACKS} acks and {KILL_AFTER_DELIVERED} deliveries")
        d.kill9()
    finally:
        for th in threads:
            th.join(mp.timeout(30))
    assert not any(th.is_alive() for th in threads), "client threads hang after the kill"
    # The daemon's connections to the sink are gone: what the sink has now is final.
    mp.wait_until(lambda: sink.open_connections == 0, 10, what="the sink's connections to end")
    in_active = mp.queued_ids(d.spool, ("active",))
    active_mids = {mid_of(qf.content) for qf in mp.parse_all(d.spool, ("active",)).values()}
    at_sink_at_kill = set(message_ids(sink))
    queued_at_kill = mp.queued_ids(d.spool)
    acked_at_kill = load.count()
    delivered_at_kill = len(sink.delivered())
    assert sum(map(len, load.todo)) > 0, "all messages were sent before the kill: nothing tested"

    # Restart, and let the clients send the rest: 1,000 messages in all.
    d.start()
    threads = load.start(d)
    for th in threads:
        th.join(mp.timeout(120))
    assert not any(th.is_alive() for th in threads)
    assert not load.unexpected, load.unexpected[:5]
    assert sum(map(len, load.todo)) == 0
    assert len(load.acked) + len(load.unsure) == TOTAL

    want = {f"<crash-{n}@load.test>" for n in load.acked}
    mp.wait_until(lambda: want <= set(message_ids(sink)), 90,
                  what=f"all {len(want)} acknowledged messages at the sink")
    sinks.wait_queue_empty(d, limit=60)
    got = message_ids(sink)
    duplicates = sum(c - 1 for c in got.values())
    print(f"acked {len(load.acked)} (at kill {acked_at_kill}), unsure {len(load.unsure)}, delivered at kill "
          f"{delivered_at_kill}, queued at kill {len(queued_at_kill)}, in active/ at kill {len(in_active)}, "
          f"delivered {sum(got.values())}, duplicates {duplicates}")
    assert set(got) <= {f"<crash-{n}@load.test>" for n in range(TOTAL)}, "unknown messages at the sink"
    # Only a message in active/ whose delivery the sink had already taken (the
    # window between the next hop's reply and our record of it) may come twice.
    window = active_mids & at_sink_at_kill
    dup_ids = {m for m, c in got.items() if c > 1}
    print(f"in active/ and already at the sink at the kill: {len(window)}")
    assert dup_ids <= window, sorted(dup_ids - window)[:10]
    assert duplicates <= len(in_active), (duplicates, len(in_active))
    assert max(got.values()) <= 2, got.most_common(3)
    # Byte-exact, each one.
    by_id = {t.message["Message-ID"]: t for t in sink.delivered()}
    for n in load.acked:
        t = by_id[f"<crash-{n}@load.test>"]
        assert mp.split_received(t.data)[1] == content_of(n), f"message {n} differs at the sink"
        assert t.accepted == [f"r{n}@example.net"]
    assert not list((d.spool / "corrupt").iterdir())


def test_queue_file_written_into_incoming_before_start_is_delivered(make_daemon, make_sink):
    sink = make_sink("relay")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport), start=False)
    d.make_spool()
    qid = sinks.new_queue_id()
    content = (b"Received: from writer.test (localhost [127.0.0.1])\r\n\tby elsewhere (test) id x;"
               b" Sun, 22 Nov 2026 10:00:00 +0000\r\n") + sinks.message("left in incoming", b"from disk\r\n")
    sinks.write_queue_file(d.spool, "incoming", qid, sinks.queue_file_bytes(
        qid, "disk@example.com", ["one@example.net", "two@example.net"], content))
    d.start()
    sinks.wait_removed(d, qid)
    (t,) = sink.delivered()
    assert t.sender == "disk@example.com" and sorted(t.accepted) == ["one@example.net", "two@example.net"]
    assert t.data == content
    assert d.queued_ids() == set()


def test_queue_file_from_a_first_run_is_delivered_by_a_second(workdir, make_daemon, make_sink):
    first = make_daemon(dict(sinks.FAST))  # relayhost: a port that refuses
    content = sinks.message("moved between daemons", b"carried over\r\n")
    qid = sinks.send(first, "carry@example.com", ["dest@example.net"], content)
    sinks.wait_status(first, qid, "deferred")
    first.stop()
    src = mp.find_queue_file(first.spool, qid)
    assert src is not None and src.parent.name == "deferred", src

    sink = make_sink("relay")
    second = make_daemon(dict(sinks.FAST, relayhost=sink.hostport), start=False)
    second.make_spool()  # the operator moves a file in as the spool's owner would
    shutil.copyfile(src, second.spool / "incoming" / qid)
    shutil.copystat(src, second.spool / "incoming" / qid)
    st = (second.spool / "incoming").stat()
    os.chown(second.spool / "incoming" / qid, st.st_uid, st.st_gid)
    second.start()
    sinks.wait_removed(second, qid)
    (t,) = sink.delivered()
    assert t.sender == "carry@example.com" and t.accepted == ["dest@example.net"]
    assert mp.split_received(t.data)[1] == content


def test_sigterm_during_a_slow_delivery_loses_nothing(make_daemon, make_postfix_sink):
    # smtp-sink waits 3 s before answering DATA: SIGTERM lands mid-delivery.
    pf = make_postfix_sink("slow", ["-w", "3"])
    d = make_daemon(dict(sinks.FAST, relayhost=pf.hostport))
    content = sinks.message("slow delivery", b"patience\r\n")
    qid = sinks.send(d, "s@example.com", ["r@example.net"], content)
    mp.wait_until(lambda: list(pf.dir.iterdir()), 10, what="the delivery to reach smtp-sink's DATA")
    d.stop()  # SIGTERM; asserts exit status 0
    print("after SIGTERM:", [e.line.split(": ", 1)[1] for e in sinks.deliveries(d, qid)], sorted(d.queued_ids()))
    if qid in d.queued_ids():
        d.start()  # still queued: the next run delivers it
    sinks.wait_removed(d, qid, limit=30)
    d.stop()
    dumps = [x for x in pf.dumps() if x.content.endswith(b"patience\n")]
    assert 1 <= len(dumps) <= 2, [str(x.path) for x in dumps]
    assert mp.split_received(dumps[0].content)[1] == sinks.to_lf(content)


def test_delivered_recipient_is_not_retried_after_kill9(make_daemon, make_sink):
    sink = make_sink("relay")
    sink.set_rcpt_reply("later@example.net", "451 4.3.0 <later@example.net>: not yet")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport))
    content = sinks.message("half delivered")
    qid = sinks.send(d, "s@example.com", ["now@example.net", "later@example.net"], content)
    sinks.wait_status(d, qid, "deferred", to="later@example.net")
    mp.wait_until(lambda: (d.spool / "deferred" / qid).is_file(), 10, what=f"{qid} in deferred/")
    d.kill9()
    sink.set_rcpt_reply("later@example.net", "250 2.1.5 Ok")
    d.start()
    sinks.wait_removed(d, qid, limit=20)
    got = sink.delivered()
    assert [t.accepted for t in got] == [["now@example.net"], ["later@example.net"]], [t.rcpts for t in got]
    assert all(mp.split_received(t.data)[1] == content for t in got)
