"""Odd files in the queue (issue 9, item 10): a FIFO, a directory and a symlink named
like queue IDs in incoming/. None may block a file worker, hang `mpqueue -p` or stop
SIGTERM from completing, and none is retried forever: the daemon moves each to
corrupt/ with a warning, and other mail still flows. A symlink is never followed (root's
`mpqueue show` must not print a file it points at)."""

import os

import mp
import sinks


def plant_odd_files(spool, target):
    incoming = spool / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    fifo, folder, link = sinks.new_queue_id(), sinks.new_queue_id(), sinks.new_queue_id()
    os.mkfifo(incoming / fifo)
    (incoming / folder).mkdir()
    os.symlink(target, incoming / link)
    st = incoming.stat()  # planted by the spool's owner, as a local attacker would
    for name in (fifo, folder, link):
        os.lchown(incoming / name, st.st_uid, st.st_gid)
    return {"fifo": fifo, "directory": folder, "link": link}


def test_odd_files_go_to_corrupt_and_mail_still_flows(make_daemon, workdir):
    secret = workdir / "secret"
    secret.write_text("root-only secret\n")
    secret.chmod(0o600)
    hole = mp.ClosedPort()
    try:
        d = make_daemon(dict(sinks.FAST, relayhost=f"127.0.0.1:{hole.port}"), start=False)
        d.write_conf()
        odd = plant_odd_files(d.make_spool(), secret)

        # With the daemon stopped, the listing reads the spool itself: it returns at once.
        r = d.tool("mpqueue", "-p", limit=15)
        assert r.returncode == 0, mp.out(r)
        assert "root-only secret" not in mp.out(r)
        r = d.tool("mpqueue", "show", odd["link"], limit=15)
        assert "root-only secret" not in mp.out(r), mp.out(r)

        d.start()
        corrupt = d.spool / "corrupt"
        mp.wait_until(lambda: all(os.path.lexists(corrupt / q) for q in odd.values()), 20,
                      what="the odd files in corrupt/")
        log = d.log_text()
        for kind, qid in odd.items():
            assert not os.path.lexists(d.spool / "incoming" / qid), kind
            assert f"{qid}: unreadable queue file moved to" in log, (kind, log)
        assert os.path.islink(corrupt / odd["link"]), "the link itself is moved, not its target"
        assert secret.read_text() == "root-only secret\n"

        # Ordinary mail is still picked up and tried.
        qid = sinks.send(d, "s@example.com", ["r@example.net"], sinks.message("still flowing"))
        sinks.wait_status(d, qid, "deferred")
        r = d.tool("mpqueue", "-p", limit=15)
        assert r.returncode == 0 and qid in mp.out(r), mp.out(r)
        # The make_daemon fixture stops it with SIGTERM and asserts a clean exit 0.
    finally:
        hole.close()


def test_a_symlink_as_master_lock_is_fatal(make_daemon, workdir):
    """Root opens master.lock: a link planted there by the spool's owner must not be
    followed (it would create or lock a file of root's choosing elsewhere)."""
    elsewhere = workdir / "not-the-spool"
    d = make_daemon(start=False)
    d.write_conf()
    d.make_spool()
    os.symlink(elsewhere, d.spool / "master.lock")
    r = mp.run([str(mp.program("mailprocd")), "-c", str(d.conf_path)], limit=20)
    assert r.returncode != 0, mp.out(r)
    assert f"{d.spool / 'master.lock'} is a symbolic link" in mp.out(r), mp.out(r)
    assert not elsewhere.exists(), "the link was followed"


def test_names_that_are_not_queue_ids_are_warned_about_once_and_left(make_daemon):
    d = make_daemon(dict(sinks.FAST), start=False)
    d.write_conf()
    spool = d.make_spool()
    odd = [spool / "incoming" / "README", spool / "deferred" / "backup.tar"]
    for p in odd:
        p.write_text("not mail\n")
    d.start()
    for p in odd:
        mp.wait_until(lambda: f"warning: {p}: not a queue ID; left alone" in d.log_text(), 20,
                      what=f"the warning about {p.name}")
    r = d.tool("mpqueue", "-p", limit=15)
    assert r.returncode == 0 and "README" not in mp.out(r), mp.out(r)
    # Mail still flows; two attempts of it (retry_min 1 s) span more 1 s queue scans.
    qid = sinks.send(d, "s@example.com", ["r@example.net"], sinks.message("after the odd names"))
    mp.wait_until(lambda: len(sinks.deliveries(d, qid)) >= 2, 20, what="a second attempt")
    for p in odd:
        assert p.read_text() == "not mail\n"
        assert d.log_text().count(f"warning: {p}: not a queue ID") == 1
