"""Durability: `250 queued as ID` means the message is on disk. Clients
send in parallel; the daemon is killed with SIGKILL mid-load and restarted on
the same spool; every acknowledged message must be there, complete, and no
sub-queue may hold a partial file."""

import smtplib
import threading
import time

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
                    s.ehlo()
                body = b"".join(b"thread %d message %d line %d .\r\n" % (t, n, i) for i in range(40 + n % 50))
                content = mp.build_message(f"crash {t}/{n}", body)
                replies = [s.mail("a@example.com"), s.rcpt(f"t{t}n{n}@example.net")]
                if [code for code, _ in replies] != [250, 250]:
                    raise smtplib.SMTPResponseException(*replies[-1])
                code, resp = s.data(content)
                qid = mp.QUEUED_AS.search(resp.decode()).group(1)
                with self.lock:
                    self.acked[qid] = content
        except (OSError, smtplib.SMTPServerDisconnected, EOFError):
            return  # the daemon was killed under us
        except smtplib.SMTPResponseException as e:
            with self.lock:
                self.unexpected.append((t, e.smtp_code, e.smtp_error))
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


def test_write_error_is_451_never_a_silent_loss(daemon):
    incoming = daemon.spool / "incoming"
    mode = incoming.stat().st_mode
    content = mp.build_message("cannot be written")
    incoming.chmod(0o500)  # the daemon (an unprivileged user) can no longer link files in
    try:
        with daemon.session() as c:
            replies, final = c.send_message("a@example.com", ["b@example.net"], content)
            assert [r.code for r in replies] == [250, 250, 354], replies
            assert final.code == 451 and final.enhanced == "4.3.0", final
            assert c.cmd("NOOP").code == 250
    finally:
        incoming.chmod(mode & 0o7777)
    assert daemon.queued_ids() == set()
    assert list((daemon.spool / "tmp").iterdir()) == []
    # Writable again: the next message goes through.
    with daemon.session() as c:
        _, final = c.send_message("a@example.com", ["b@example.net"], content)
    assert final.code == 250, final
    mp.assert_stored(daemon, final.queue_id, content)


def test_sigterm_does_not_wait_for_idle_sessions(daemon):
    idle = daemon.session()
    try:
        start = time.monotonic()
        daemon.stop()  # asserts exit status 0
        took = time.monotonic() - start
        rest = idle.replies_until_close()
        assert all(r.code == 421 for r in rest), rest
    finally:
        idle.close()
    assert took < mp.timeout(5), f"an idle session held SIGTERM up for {took:.1f}s"


def test_sigterm_during_data_loses_nothing(daemon):
    busy = daemon.session()
    content = mp.build_message("finished during shutdown")
    try:
        busy.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        assert [busy.reply().code for _ in range(3)] == [250, 250, 354]
        half = len(content) // 2
        busy.send(content[:half])
        daemon.terminate()
        try:
            busy.send(mp.dot_stuff(content)[half:] + b".\r\nQUIT\r\n")
            final = busy.reply()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            final = None
        daemon.stop()  # waits; asserts exit status 0
    finally:
        busy.close()
    if final is not None and final.code == 250:
        mp.assert_stored(daemon, final.queue_id, content)  # acknowledged: it must be there
    else:
        assert final is None or final.code in (421, 451), final
        assert daemon.queued_ids() == set()

