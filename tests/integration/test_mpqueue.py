"""mpqueue end to end: the Postfix-shaped listings of real deferred mail, and
every action through the daemon's control socket (flush, hold/release, delete,
requeue after a transport edit, reload refused for a broken file and taken
without a restart while an SMTP session stays open), listings with the daemon
stopped, the socket's owner-only rule, and the command line itself.

Retries are an hour apart here (SLOW), so after the first attempt a message
moves only when the operator says so."""

import glob
import json
import os
import pwd
import re
import stat
import subprocess
import time

import mp
import sinks
from sinks import make_sink  # noqa: F401  (fixture)

SLOW = {"retry_min": "1h", "retry_max": "1h", "queue_run_interval": "1h"}
HEADER = "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------"
IS_ROOT = os.geteuid() == 0


def mpq(d, *args, **kw):
    return d.tool("mpqueue", *args, **kw)


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def one_error_line(r) -> str:
    """The run failed with nothing on stdout and exactly one line on stderr."""
    err = text(r.stderr)
    assert r.stdout == b"", r.stdout
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("mpqueue: "), err
    return err.rstrip("\n")


def wait_deferred(d, qid):
    """The first attempt failed and the file is in deferred/."""
    sinks.wait_status(d, qid, "deferred")
    mp.wait_until(lambda: qid in mp.queued_ids(d.spool, ("deferred",)), 10,
                  what=f"{qid} in deferred/")
    return sinks.deliveries(d, qid)[-1].text


def asctime19(epoch: int) -> str:
    """Postfix's arrival column: asctime() cut to 19 characters, local time."""
    return time.strftime("%a %b %e %H:%M:%S", time.localtime(epoch))


def reason_line(reason: str) -> str:
    """Postfix right-aligns "(reason)" to column 78 (from column 0 when longer)."""
    return f"({reason})".rjust(78)


# ---------------------------------------------------------------- listings


def test_deferred_mail_is_listed_with_its_reason(make_daemon):
    d = make_daemon(SLOW)
    qid = sinks.send(d, "s@example.com", ["r1@example.net", "r2@example.net"], sinks.message("listed"))
    reason = wait_deferred(d, qid)
    assert f"127.0.0.1[127.0.0.1]:{d.closed_port.port}" in reason, reason
    qf = d.message(qid)
    size, arrival = len(qf.content), int(qf.get("arrival"))

    r = mpq(d, "-p")
    assert r.returncode == 0 and r.stderr == b"", mp.out(r)
    assert text(r.stdout).splitlines() == [
        HEADER,
        f"{qid + ' ':<17} {size:>8} {asctime19(arrival)} s@example.com",
        reason_line(reason),
        " " * 47 + "r1@example.net",
        " " * 47 + "r2@example.net",
        "",
        f"-- {size // 1024} Kbytes in 1 Request.",
    ]
    assert mpq(d, "list").stdout == r.stdout

    j = mpq(d, "-j")
    assert j.returncode == 0 and j.stderr == b"", mp.out(j)
    lines = text(j.stdout).splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    next_attempt = int(os.stat(d.spool / "deferred" / qid).st_mtime)
    assert obj == {
        "queue_name": "deferred",
        "queue_id": qid,
        "arrival_time": arrival,
        "message_size": size,
        "forced_expire": False,
        "sender": "s@example.com",
        "recipients": [{"address": "r1@example.net", "delay_reason": reason},
                       {"address": "r2@example.net", "delay_reason": reason}],
        "next_attempt": next_attempt,
        "attempts": 1,
    }
    assert next_attempt >= time.time() + 3000  # an hour after the attempt
    assert mpq(d, "list", "--json").stdout == j.stdout


def test_null_sender_and_plural_summary(make_daemon):
    d = make_daemon(SLOW)
    a = sinks.send(d, "", ["r@example.net"], sinks.message("bounce-like"))
    b = sinks.send(d, "s@example.com", ["r@example.net"], sinks.message("second"))
    wait_deferred(d, a)
    wait_deferred(d, b)
    out = text(mpq(d, "-p").stdout)
    first, second = sorted([a, b])
    assert out.index(first) < out.index(second), out  # arrival (ID) order
    assert re.search(rf"^{a}  +\d+ .{{19}} MAILER-DAEMON$", out, re.M), out
    assert re.search(r"^-- \d+ Kbytes in 2 Requests\.$", out, re.M), out
    senders = {o["queue_id"]: o["sender"] for o in map(json.loads, text(mpq(d, "-j").stdout).splitlines())}
    assert senders == {a: "MAILER-DAEMON", b: "s@example.com"}


def test_empty_queue(make_daemon):
    d = make_daemon(SLOW)
    r = mpq(d, "-p")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"Mail queue is empty\n", b"")
    r = mpq(d, "-j")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


def test_listing_and_show_work_with_the_daemon_stopped(make_daemon):
    d = make_daemon(SLOW)
    content = sinks.message("offline")
    qid = sinks.send(d, "s@example.com", ["r@example.net"], content)
    reason = wait_deferred(d, qid)
    d.stop()
    assert not (d.spool / "control").exists()  # removed at a clean stop

    r = mpq(d, "-p")
    assert r.returncode == 0, mp.out(r)
    assert reason_line(reason) in text(r.stdout).splitlines()
    assert text(r.stdout).splitlines()[1].startswith(qid + " ")

    r = mpq(d, "show", qid)
    assert r.returncode == 0, mp.out(r)
    out = text(r.stdout)
    assert out.startswith(f"*** ENVELOPE RECORDS deferred/{qid} ***\n"), out
    assert "\nsender: s@example.com\n" in out and "\nrecipient: r@example.net\n" in out, out
    # Postfix's wording: no reply code of mailproc's own invention in front (issue 9, item 2).
    assert f"connect to 127.0.0.1[127.0.0.1]:{d.closed_port.port}: Connection refused" in out, out
    assert "451 4.4.1 connect" not in out, out
    assert f"*** MESSAGE CONTENTS deferred/{qid} ***\nReceived: " in out, out
    assert text(sinks.to_lf(content)) in out
    assert out.endswith(f"*** MESSAGE FILE END deferred/{qid} ***\n"), out

    for args in (["flush"], ["reload"], ["delete", qid]):
        r = mpq(d, *args)
        assert r.returncode == 2, mp.out(r)
        line = one_error_line(r)
        assert line.startswith(f"mpqueue: cannot reach mailprocd at {d.spool}/control: "), line


# ---------------------------------------------------------------- actions


def test_flush_delivers_once_the_next_hop_is_back(make_daemon, make_sink):
    port = mp.free_port()
    d = make_daemon(dict(SLOW, relayhost=f"127.0.0.1:{port}"))
    qid = sinks.send(d, "s@example.com", ["r@example.net"], sinks.message("flush me"))
    wait_deferred(d, qid)
    sink = make_sink("back", port=port)  # the next hop is back
    r = mpq(d, "flush")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b""), mp.out(r)  # silent, as postqueue -f
    sinks.wait_removed(d, qid)
    (t,) = sink.delivered()
    assert t.accepted == ["r@example.net"]
    assert mpq(d, "-p").stdout == b"Mail queue is empty\n"


def test_flush_of_one_message(make_daemon, make_sink):
    port = mp.free_port()
    d = make_daemon(dict(SLOW, relayhost=f"127.0.0.1:{port}"))
    a = sinks.send(d, "s@example.com", ["a@example.net"], sinks.message("flush a"))
    b = sinks.send(d, "s@example.com", ["b@example.net"], sinks.message("stays"))
    wait_deferred(d, a)
    wait_deferred(d, b)
    sink = make_sink("back", port=port)
    r = mpq(d, "flush", a.lower())  # IDs are accepted in lower case too
    assert r.returncode == 0, mp.out(r)
    sinks.wait_removed(d, a)
    assert [t.accepted for t in sink.delivered()] == [["a@example.net"]]
    assert b in mp.queued_ids(d.spool, ("deferred",))


def test_flush_of_one_domain(make_daemon, make_sink):
    """`mpqueue flush --domain SITE` (postqueue -s, sendmail -qR) tries only the
    deferred mail with a recipient at SITE."""
    port = mp.free_port()
    d = make_daemon(dict(SLOW, relayhost=f"127.0.0.1:{port}"))
    a = sinks.send(d, "s@example.com", ["a@example.net"], sinks.message("to example.net"))
    b = sinks.send(d, "s@example.com", ["b@example.org"], sinks.message("to example.org"))
    wait_deferred(d, a)
    wait_deferred(d, b)
    sink = make_sink("back", port=port)
    r = mpq(d, "flush", "--domain", "Example.NET")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b""), mp.out(r)
    sinks.wait_removed(d, a)
    assert [t.accepted for t in sink.delivered()] == [["a@example.net"]]
    assert b in mp.queued_ids(d.spool, ("deferred",))
    r = mpq(d, "flush", "--domain", "example.net", b)
    assert r.returncode == 1
    assert one_error_line(r) == "mpqueue: --domain cannot be combined with queue IDs"


def test_hold_keeps_mail_and_release_lets_it_go(make_daemon, make_sink):
    port = mp.free_port()
    d = make_daemon(dict(SLOW, relayhost=f"127.0.0.1:{port}"))
    held = sinks.send(d, "s@example.com", ["held@example.net"], sinks.message("held"))
    reason = wait_deferred(d, held)

    r = mpq(d, "hold", held)
    assert (r.returncode, text(r.stdout), r.stderr) == (0, "Placed on hold: 1 message\n", b""), mp.out(r)
    assert held in mp.queued_ids(d.spool, ("hold",))
    assert f"{held}: placed on hold" in d.log_text()
    lines = text(mpq(d, "-p").stdout).splitlines()
    assert lines[1].startswith(held + "!"), lines
    assert reason_line(reason) in lines  # a held message keeps its reason
    (obj,) = map(json.loads, text(mpq(d, "-j").stdout).splitlines())
    assert (obj["queue_name"], obj["next_attempt"]) == ("hold", 0), obj

    sink = make_sink("back", port=port)
    r = mpq(d, "flush", held)
    assert r.returncode == 1
    assert one_error_line(r) == f"mpqueue: {held}: on hold; release it first"
    assert mpq(d, "flush").returncode == 0
    # Mail still flows (a new message is delivered), the held one stays.
    other = sinks.send(d, "s@example.com", ["other@example.net"], sinks.message("flows"))
    sinks.wait_removed(d, other)
    assert [t.accepted for t in sink.delivered()] == [["other@example.net"]]
    assert held in mp.queued_ids(d.spool, ("hold",))

    r = mpq(d, "release", held)
    assert (r.returncode, text(r.stdout)) == (0, "Released from hold: 1 message\n"), mp.out(r)
    sinks.wait_removed(d, held)
    assert sink.delivered_to("held@example.net")
    r = mpq(d, "release", held)
    assert r.returncode == 1
    assert one_error_line(r) == f"mpqueue: {held}: no such message in the queue"


def test_delete(make_daemon):
    d = make_daemon(SLOW)
    a = sinks.send(d, "s@example.com", ["a@example.net"], sinks.message("delete a"))
    b = sinks.send(d, "s@example.com", ["b@example.net"], sinks.message("delete b"))
    c = sinks.send(d, "s@example.com", ["c@example.net"], sinks.message("delete c"))
    for qid in (a, b, c):
        wait_deferred(d, qid)

    r = mpq(d, "delete", a)
    assert (r.returncode, text(r.stdout), r.stderr) == (0, "Deleted: 1 message\n", b""), mp.out(r)
    assert a not in mp.queued_ids(d.spool)
    assert f"{a}: removed" in d.log_text()
    assert a not in text(mpq(d, "-p").stdout)

    r = mpq(d, "delete", a, b)  # one gone, one there: the other is still deleted
    assert r.returncode == 1
    assert text(r.stdout) == "Deleted: 1 message\n"
    assert text(r.stderr) == f"mpqueue: {a}: no such message in the queue\n"
    assert b not in mp.queued_ids(d.spool)

    r = mpq(d, "delete", "ALL")
    assert (r.returncode, text(r.stdout)) == (0, "Deleted: 1 message\n"), mp.out(r)
    assert mpq(d, "-p").stdout == b"Mail queue is empty\n"
    assert not sinks.ndr_ids(d, c)  # deleting sends no NDR


def test_delete_all_of_one_queue(make_daemon):
    """`mpqueue delete ALL deferred` (postsuper -d ALL deferred) empties that
    sub-queue only; `delete ALL hold` then the held one."""
    d = make_daemon(SLOW)
    ids = [sinks.send(d, "s@example.com", [f"{n}@example.net"], sinks.message(n)) for n in "abc"]
    for qid in ids:
        wait_deferred(d, qid)
    held = ids[0]
    assert mpq(d, "hold", held).returncode == 0

    r = mpq(d, "delete", "ALL", "deferred")
    assert (r.returncode, text(r.stdout), r.stderr) == (0, "Deleted: 2 messages\n", b""), mp.out(r)
    assert mp.queued_ids(d.spool) == {held}
    for qid in ids[1:]:
        assert f"{qid}: removed" in d.log_text()

    r = mpq(d, "delete", "ALL", "incoming")  # nothing there: nothing said
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b""), mp.out(r)
    r = mpq(d, "delete", "ALL", "archive")
    assert r.returncode == 1
    assert one_error_line(r).startswith("mpqueue: ALL takes one of incoming, active, deferred, hold")
    assert set(mp.queued_ids(d.spool)) == {held}

    r = mpq(d, "delete", "ALL", "hold")
    assert (r.returncode, text(r.stdout)) == (0, "Deleted: 1 message\n"), mp.out(r)
    assert mpq(d, "-p").stdout == b"Mail queue is empty\n"
    if IS_ROOT:  # deleting stays with root and the spool's owner
        other = subprocess.run([str(mp.program_for_others("mpqueue")), "-c", str(d.conf_path),
                                "delete", "ALL", "deferred"],
                               user="daemon", capture_output=True, timeout=mp.timeout(30))
        assert other.returncode == 1
        assert "Permission denied" in one_error_line(other)


def test_requeue_routes_by_the_edited_transport_after_reload(workdir, make_daemon, make_sink):
    sink = make_sink("new-hop")
    hole = mp.ClosedPort()
    try:
        transport = sinks.write_map(workdir / "transport", [f"dest.test 127.0.0.1:{hole.port}"])
        d = make_daemon(dict(SLOW, transport=transport))
        qid = sinks.send(d, "s@example.com", ["r@dest.test"], sinks.message("requeue"))
        wait_deferred(d, qid)
        sinks.write_map(transport, [f"dest.test {sink.hostport}"])
        r = mpq(d, "reload")
        assert r.returncode == 0 and r.stderr == b"", mp.out(r)
        assert "reload: configuration and map files reloaded" in d.log_text()
        assert sink.delivered() == [] and qid in mp.queued_ids(d.spool, ("deferred",))
        r = mpq(d, "requeue", qid)
        assert (r.returncode, text(r.stdout)) == (0, "Requeued: 1 message\n"), mp.out(r)
        sinks.wait_removed(d, qid)
    finally:
        hole.close()
    (t,) = sink.delivered()
    assert t.accepted == ["r@dest.test"]
    assert sinks.deliveries(d, qid)[-1].relay.endswith(f":{sink.port}")


def test_reload_refuses_a_broken_file_and_takes_a_fixed_one_while_a_session_stays_open(
        workdir, make_daemon, make_sink):
    old, new = make_sink("old"), make_sink("new")
    transport = sinks.write_map(workdir / "transport", ["# reload test", f"dest.test {old.hostport}"])
    d = make_daemon(dict(SLOW, transport=transport))
    with d.session() as c:
        def transaction(rcpt):
            replies, final = c.send_message("s@example.com", [rcpt], sinks.message(rcpt), ehlo=False)
            assert final is not None and final.code == 250, (replies, final)
            sinks.wait_removed(d, final.queue_id)

        transaction("one@dest.test")
        assert old.delivered_to("one@dest.test")

        sinks.write_map(transport, ["# reload test", f"dest.test {new.hostport}", "/(unclosed/ 127.0.0.1:1"])
        r = mpq(d, "reload")
        assert r.returncode == 1 and r.stdout == b"", mp.out(r)
        err = text(r.stderr).splitlines()
        assert re.match(rf"{re.escape(str(transport))}:3: bad regex '/\(unclosed/'", err[0]), err
        assert err[-1] == "mpqueue: reload refused: mailprocd keeps its current rules", err
        assert f"{transport}:3: bad regex" in d.log_text()

        transaction("two@dest.test")  # same session, old rules
        assert old.delivered_to("two@dest.test") and not new.delivered()

        sinks.write_map(transport, ["# reload test", f"dest.test {new.hostport}"])
        r = mpq(d, "reload")
        assert r.returncode == 0, mp.out(r)

        transaction("three@dest.test")  # same session, new rules
        assert new.delivered_to("three@dest.test")
        assert not old.delivered_to("three@dest.test")
        c.cmd("QUIT")


# ---------------------------------------------------------------- the socket and the command line


def test_control_socket_is_owner_only(make_daemon):
    d = make_daemon(SLOW)
    st = os.lstat(d.spool / "control")
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == (pwd.getpwnam("nobody").pw_uid if IS_ROOT else os.geteuid())
    if not IS_ROOT:
        return
    # The spool's owner may list and act; anyone else is turned away.
    as_owner = subprocess.run([str(mp.program_for_others("mpqueue")), "-c", str(d.conf_path), "flush"],
                              user="nobody", capture_output=True, timeout=mp.timeout(30))
    assert as_owner.returncode == 0, mp.out(as_owner)
    listing = subprocess.run([str(mp.program_for_others("mpqueue")), "-c", str(d.conf_path), "-p"],
                             user="nobody", capture_output=True, timeout=mp.timeout(30))
    assert (listing.returncode, listing.stdout) == (0, b"Mail queue is empty\n"), mp.out(listing)
    other = subprocess.run([str(mp.program_for_others("mpqueue")), "-c", str(d.conf_path), "flush"],
                           user="daemon", capture_output=True, timeout=mp.timeout(30))
    assert other.returncode == 2
    line = one_error_line(other)
    assert line.startswith("mpqueue: cannot reach mailprocd at ") and "Permission denied" in line, line
    other = subprocess.run([str(mp.program_for_others("mpqueue")), "-c", str(d.conf_path), "-p"],
                           user="daemon", capture_output=True, timeout=mp.timeout(30))
    assert other.returncode == 2
    assert "Permission denied" in one_error_line(other)
    # show: refused as such, not "no such message" (SPEC: exit 1, permission denied).
    other = subprocess.run([str(mp.program_for_others("mpqueue")), "-c", str(d.conf_path), "show",
                            "1NBH0E5OQ3B2K7VQ"], user="daemon", capture_output=True,
                           timeout=mp.timeout(30))
    assert other.returncode == 1, mp.out(other)
    assert one_error_line(other).startswith("mpqueue: permission denied"), mp.out(other)


def test_help_and_version():
    binary = str(mp.program("mpqueue"))
    for args in (["--help"], ["-h"], ["delete", "--help"]):
        r = mp.run([binary, *args])
        assert r.returncode == 0 and r.stderr == b"", mp.out(r)
        assert b"Usage: mpqueue" in r.stdout, r.stdout
    r = mp.run([binary, "--help"])
    for word in (b"-p", b"-j", b"flush", b"delete", b"hold", b"release", b"requeue", b"show", b"reload"):
        assert word in r.stdout, word
    r = mp.run([binary, "--version"])
    assert r.returncode == 0 and re.fullmatch(rb"mpqueue \d+\.\d+\.\d+\n", r.stdout), mp.out(r)


def test_bad_arguments_are_one_line_and_exit_1(make_daemon):
    d = make_daemon(start=False)
    d.write_conf()
    cases = [
        ([], "nothing to do"),
        (["--bogus"], "--bogus"),
        (["-p", "-j"], "exclude each other"),
        (["-p", "flush"], "cannot be combined"),
        (["delete"], "ID is required"),
        (["delete", "xyz"], "bad queue ID 'xyz'"),
        (["hold", "1NBH0E5OQ3B2K7VQ", "ALL"], "ALL cannot be combined with queue IDs"),
        (["reload", "now"], "now"),
        (["show"], "ID is required"),
        (["show", "../../etc/passwd"], "bad queue ID"),
        (["frobnicate"], "frobnicate"),
    ]
    for args, words in cases:
        r = mpq(d, *args)
        assert r.returncode == 1, (args, mp.out(r))
        line = one_error_line(r)
        assert words in line, (args, line)
    # An unknown ID for show is a user error too.
    r = mpq(d, "show", "1NBH0E5OQ3B2K7VQ")
    assert r.returncode == 1
    assert one_error_line(r) == "mpqueue: 1NBH0E5OQ3B2K7VQ: no such message in the queue"


def test_bad_configuration_names_file_and_line(workdir):
    conf = workdir / "broken.conf"
    conf.write_text("spooldir = /nonexistent\nbogus_key = 1\n")
    r = mp.run([str(mp.program("mpqueue")), "-c", str(conf), "-p"])
    assert r.returncode == 1 and r.stdout == b"", mp.out(r)
    assert text(r.stderr).startswith(f"{conf}:2: unknown key 'bogus_key'"), mp.out(r)


def test_missing_spool_is_a_clear_failure(workdir):
    conf = workdir / "m.conf"
    conf.write_text(f"spooldir = {workdir}/no-spool\n")
    r = mp.run([str(mp.program("mpqueue")), "-c", str(conf), "-p"])
    assert r.returncode == 2
    line = one_error_line(r)
    assert line.startswith("mpqueue: cannot read the queue: ") and "no-spool" in line, line


def test_golden_json_refs_are_valid_json():
    refs = sorted(glob.glob(str(mp.SOURCE / "tests" / "golden" / "mpqueue" / "*.j.ref")))
    assert len(refs) >= 4, refs
    keys = {"queue_name", "queue_id", "arrival_time", "message_size", "forced_expire", "sender",
            "recipients", "next_attempt", "attempts"}
    for ref in refs:
        with open(ref, encoding="utf-8") as f:
            for line in f:
                obj = json.loads(line)
                assert set(obj) == keys, (ref, obj)
                for rcpt in obj["recipients"]:
                    assert set(rcpt) <= {"address", "delay_reason"}, (ref, rcpt)


def test_a_file_whose_internal_id_differs_from_its_name_is_listed_once_by_name(make_daemon):
    d = make_daemon(SLOW, start=False)
    d.write_conf()
    d.make_spool()
    inner, other = sinks.new_queue_id(), sinks.new_queue_id()
    data = sinks.queue_file_bytes(inner, "s@example.com", ["r@example.net"], mp.build_message("twin"))
    sinks.write_queue_file(d.spool, "hold", inner, data)
    sinks.write_queue_file(d.spool, "hold", other, data)  # a copy under another name
    r = d.tool("mpqueue", "-p", limit=15)
    assert r.returncode == 0, mp.out(r)
    rows = [line.split()[0].rstrip("!*") for line in r.stdout.decode().splitlines()
            if line[:1].isalnum()]
    assert sorted(rows) == sorted([inner, other]), mp.out(r)
    assert f"the file says it is {inner}; listed as {other}" in r.stderr.decode(), mp.out(r)
