"""Durability: `250 queued as ID` means the message is on disk. Clients
send in parallel; the daemon is killed with SIGKILL mid-load and restarted on
the same spool; every acknowledged message must be there, complete, and no
sub-queue may hold a partial file."""

import smtplib
import threading

import mp

THREADS = 16
MIN_ACKS = 200
PER_THREAD_MAX = 2000


class Load:
    """THREADS smtplib clients sending until the daemon dies (or a bound is
    hit), recording each acknowledged queue ID with the content sent."""

    def __init__(self, d):
        self.d = d
        self.lock = threading.Lock()
        self.acked = {}  # queue ID -> content
        self.unexpected = []  # replies that were neither 250 nor a dying server
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True) for t in range(THREADS)]

    def run(self, t):
        s = None
        try:
            for n in range(PER_THREAD_MAX):
                if self.stop.is_set():
                    return
                if s is None or n % 7 == 0:  # mix new connections and reuse
                    if s is not None:
                        s.quit()
                    s = smtplib.SMTP(self.d.host, self.d.port, local_hostname=f"t{t}.test",
                                     timeout=mp.timeout(10))
                body = b"".join(b"thread %d message %d line %d .\r\n" % (t, n, i) for i in range(40 + n % 50))
                content = mp.build_message(f"crash {t}/{n}", body)
                s.mail("a@example.com")
                s.rcpt(f"t{t}n{n}@example.net")
                code, resp = s.data(content)
                if code != 250:
                    with self.lock:
                        self.unexpected.append((code, resp))
                    return
                qid = mp.QUEUED_AS.search(resp.decode()).group(1)
                with self.lock:
                    self.acked[qid] = content
        except (OSError, smtplib.SMTPException, EOFError):
            return  # the daemon was killed under us
        finally:
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass

    def count(self):
        with self.lock:
            return len(self.acked)


def test_kill9_loses_no_acknowledged_message(make_daemon):
    d = make_daemon({"max_connections_per_ip": 100})
    load = Load(d)
    for th in load.threads:
        th.start()
    try:
        mp.wait_until(lambda: load.count() >= MIN_ACKS or not any(t.is_alive() for t in load.threads),
                      60, what=f"{MIN_ACKS} acknowledged messages")
        d.kill9()
    finally:
        load.stop.set()
        for th in load.threads:
            th.join(mp.timeout(30))
    assert not any(th.is_alive() for th in load.threads), "client threads hang after the kill"
    assert not load.unexpected, load.unexpected[:5]
    assert len(load.acked) >= MIN_ACKS, f"only {len(load.acked)} acks before the threads stopped"

    tmp = d.spool / "tmp"
    left_in_tmp = set(p.name for p in tmp.iterdir())
    planted = tmp / "planted-by-test"
    planted.write_bytes(b"MAILPROC-QUEUE 1\nid: partial\n")

    # Before any restart, the spool as the crash left it: nothing partial anywhere.
    before = mp.parse_all(d.spool)
    missing = [q for q in load.acked if q not in before]
    assert not missing, f"{len(missing)} acknowledged IDs have no queue file, e.g. {missing[:5]}"

    d.start()
    after = mp.parse_all(d.spool)  # raises on any file that does not parse
    assert not list((d.spool / "corrupt").iterdir()), list((d.spool / "corrupt").iterdir())
    for qid, content in load.acked.items():
        qf = after.get(qid) or d.message(qid)
        assert mp.split_received(qf.content)[1] == content, f"{qid}: stored content differs"
        assert qf.recipients and qf.recipients[0].endswith("@example.net"), qf.fields
    assert not planted.exists(), "tmp/ not purged at start"
    assert not (left_in_tmp & set(p.name for p in tmp.iterdir())), "crash leftovers still in tmp/"

    # And the restarted daemon takes mail as before.
    content = mp.build_message("after restart")
    with d.session() as c:
        _, final = c.send_message("a@example.com", ["b@example.net"], content)
    assert final.code == 250, final
    mp.assert_stored(d, final.queue_id, content)


def test_restart_keeps_queued_mail(daemon):
    content = mp.build_message("survives a clean restart")
    with daemon.session() as c:
        _, final = c.send_message("a@example.com", ["b@example.net"], content)
    assert final.code == 250, final
    daemon.restart()  # SIGTERM (exit 0 asserted), then start on the same spool
    mp.assert_stored(daemon, final.queue_id, content)
    assert daemon.queued_ids() == {final.queue_id}
