"""The spam stage (`spam:maildir:...`) against Debian's real spamd on loopback:
GTUBE is flagged and lands in maildir_junk (.Junk), clean mail lands in new/
with X-Spam-Flag: NO, a forged incoming X-Spam-Flag: NO does not survive,
spamd stopped -> deferred (spam_failure = defer, delivered once spamd is back)
or delivered tagged unscanned (pass), mail over the size cap passes unscanned,
and a message for several users is scanned once per unix user, each copy with
that user's own verdict (per-user spamd settings)."""

from __future__ import annotations

import email
import email.policy
import os
import pwd
import re

import pytest

import mp
import sinks
import spamd as sd

# The unix user `alice` maps to (local deliveries run as it; spamd sees it as User:).
RUN_AS = sinks.RUN_AS if sinks.IS_ROOT else pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture(scope="module")
def spamd():
    """One spamd with Debian's full rule set for the module (it takes seconds to start)."""
    d = mp.make_tempdir("mp-spamd-")
    s = sd.Spamd(d / "spamd", rules="default")
    try:
        yield s.start()
    finally:
        s.stop()
        mp.remove_tempdir(d)


class Setup:
    """local.test -> spam:maildir:MAILDIRS/%l/Maildir, maildir_junk = .Junk."""

    def __init__(self, workdir, make_daemon, spamd_endpoint, users=(), **conf):
        self.maildirs = sinks.writable_dir(workdir / "maildirs")
        self.users = sinks.write_map(workdir / "users", [f"root {RUN_AS}", f"alice {RUN_AS}", *users])
        self.transport = sinks.write_map(workdir / "transport", [
            f"local.test spam:maildir:{self.maildirs}/%l/Maildir",
        ])
        settings = dict(sinks.FAST, users=self.users, transport=self.transport, spamd=spamd_endpoint,
                        maildir_junk=".Junk")
        settings.update(conf)
        self.d = make_daemon(settings)

    def files(self, local: str, folder: str = "") -> list:
        d = self.maildirs / local / "Maildir"
        if folder:
            d = d / folder
        d = d / "new"
        return [p.read_bytes() for p in sorted(d.iterdir())] if d.is_dir() else []


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.compat32)


def message_id(content: bytes) -> str:
    return re.search(rb"Message-ID: (<[^>]+>)", content).group(1).decode()


def gtube(subject: str, to: str, extra: bytes = b"") -> bytes:
    return sinks.message(subject, f"This is the GTUBE:\r\n{sd.GTUBE}\r\n".encode(), "s@example.com", to,
                         extra)


def clean(subject: str, to: str) -> bytes:
    return sinks.message(subject, b"Hi Alice,\r\n\r\nlunch at noon tomorrow?\r\n\r\nBob\r\n",
                         "s@example.com", to, b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n")


def status_text(m) -> str:
    return " ".join(m["X-Spam-Status"].split())


def test_gtube_is_flagged_and_lands_in_junk(spamd, workdir, make_daemon):
    s = Setup(workdir, make_daemon, spamd.endpoint)
    content = gtube("gtube", "alice@local.test")
    qid = sinks.send(s.d, "s@example.com", ["alice@local.test"], content)
    sinks.wait_removed(s.d, qid, limit=60)

    assert s.files("alice") == [], "flagged mail in the inbox"
    (data,) = s.files("alice", ".Junk")
    assert (s.maildirs / "alice" / "Maildir" / ".Junk" / "maildirfolder").exists()
    m = parse(data)
    assert m.get_all("X-Spam-Flag") == ["YES"], m.items()
    assert float(m["X-Spam-Score"]) >= 1000, m["X-Spam-Score"]
    assert status_text(m).startswith("Yes, score=1") and "GTUBE" in status_text(m), status_text(m)
    assert sd.GTUBE.encode() in data
    (e,) = sinks.deliveries(s.d, qid)
    assert e.status == "sent", e.line
    # spamd scanned it once, for the recipient's unix user.
    (r,) = spamd.results(message_id(content))
    assert r.spam and r.user == RUN_AS and "GTUBE" in r.tests, r.line
    (line,) = [l for l in sd.spam_lines(s.d) if l["id"] == qid]
    assert line["result"] == "spam" and line["user"] == RUN_AS and line["running"] == "1", line.group(0)


def test_clean_mail_lands_in_new_with_flag_no(spamd, workdir, make_daemon):
    s = Setup(workdir, make_daemon, spamd.endpoint)
    content = clean("lunch", "alice@local.test")
    qid = sinks.send(s.d, "s@example.com", ["alice@local.test"], content)
    sinks.wait_removed(s.d, qid, limit=60)

    assert s.files("alice", ".Junk") == []
    (data,) = s.files("alice")
    m = parse(data)
    assert m.get_all("X-Spam-Flag") == ["NO"], m.items()
    assert float(m["X-Spam-Score"]) < 5
    assert status_text(m).startswith("No, score=") and "required=5.0" in status_text(m)
    assert m["Subject"] == "lunch" and b"lunch at noon tomorrow?" in data
    # The headers come before the Received: line mailproc added at reception.
    head = data.split(b"\n\n", 1)[0].split(b"\n")
    assert head[0].startswith(b"Return-Path:") and head[1].startswith(b"Delivered-To:")
    assert head[2] == b"X-Spam-Flag: NO", head[:6]
    (r,) = spamd.results(message_id(content))
    assert not r.spam


def test_forged_incoming_flag_does_not_survive(spamd, workdir, make_daemon):
    s = Setup(workdir, make_daemon, spamd.endpoint)
    forged = (b"X-Spam-Flag: NO\r\n"
              b"X-Spam-Status: No, score=-100.0 required=5.0 tests=ALL_TRUSTED\r\n\tforged=yes\r\n"
              b"x-spam-score: -100.0\r\n"
              b"X-Spam-Level: \r\n")
    content = gtube("forged", "alice@local.test", forged)
    qid = sinks.send(s.d, "s@example.com", ["alice@local.test"], content)
    sinks.wait_removed(s.d, qid, limit=60)

    assert s.files("alice") == []
    (data,) = s.files("alice", ".Junk")
    m = parse(data)
    assert m.get_all("X-Spam-Flag") == ["YES"], m.items()
    assert len(m.get_all("X-Spam-Status")) == 1 and status_text(m).startswith("Yes")
    assert len(m.get_all("X-Spam-Score")) == 1 and float(m["X-Spam-Score"]) >= 1000
    assert m.get_all("X-Spam-Level") is None
    assert b"forged=yes" not in data and b"-100.0" not in data


def test_mail_over_the_size_cap_passes_unscanned(spamd, workdir, make_daemon):
    s = Setup(workdir, make_daemon, spamd.endpoint)
    line = b"x" * 76 + b"\r\n"
    content = sinks.message("big", line * 8000 + sd.GTUBE.encode() + b"\r\n", "s@example.com",
                            "alice@local.test", b"X-Spam-Flag: NO\r\n")  # ~600 kB > 512000
    qid = sinks.send(s.d, "s@example.com", ["alice@local.test"], content)
    sinks.wait_removed(s.d, qid, limit=60)
    (data,) = s.files("alice")
    m = parse(data)
    assert m.get_all("X-Spam-Flag") is None, "a forged flag survived, or an unscanned one was added"
    assert re.fullmatch(r"unscanned \(message too large: \d+ bytes\)", status_text(m)), status_text(m)
    assert spamd.results(message_id(content)) == []


def test_each_unix_user_scanned_once_with_its_own_settings(spamd, workdir, make_daemon):
    if not sinks.IS_ROOT:
        pytest.skip("needs root to create unix users")
    u1, u2 = sinks.UnixUser(workdir / "home"), sinks.UnixUser(workdir / "home")
    try:
        spamd.user_prefs(u2.name, "required_score 2000")  # u2 tolerates anything
        s = Setup(workdir, make_daemon, spamd.endpoint,
                  users=[f"carol {u1.name}", f"carla {u1.name}", f"dave {u2.name}"])
        rcpts = ["carol@local.test", "carla@local.test", "dave@local.test"]
        content = gtube("shared", ", ".join(rcpts))
        qid = sinks.send(s.d, "s@example.com", rcpts, content)
        sinks.wait_removed(s.d, qid, limit=60)

        for local in ("carol", "carla"):  # u1's verdict: spam
            assert s.files(local) == [], local
            (data,) = s.files(local, ".Junk")
            assert parse(data).get_all("X-Spam-Flag") == ["YES"], local
        assert s.files("dave", ".Junk") == []
        (data,) = s.files("dave")  # u2's verdict: the same mail is fine
        m = parse(data)
        assert m.get_all("X-Spam-Flag") == ["NO"]
        assert "required=2000.0" in status_text(m), status_text(m)
        # One scan per unix user, not per recipient.
        scans = spamd.results(message_id(content))
        assert sorted(r.user for r in scans) == sorted([u1.name, u2.name]), [r.line for r in scans]
        assert sorted(l["user"] for l in sd.spam_lines(s.d) if l["id"] == qid) == sorted([u1.name, u2.name])
        statuses = [e.status for e in sinks.deliveries(s.d, qid)]
        assert statuses == ["sent"] * 3, statuses
    finally:
        u1.remove()
        u2.remove()


@pytest.mark.parametrize("failure", ["defer", "pass"])
def test_spamd_stopped(workdir, make_daemon, failure):
    own = sd.Spamd(workdir / "own-spamd", rules="gtube").start()
    try:
        s = Setup(workdir, make_daemon, own.endpoint, spam_failure=failure)
        first = sinks.send(s.d, "s@example.com", ["alice@local.test"], clean("before", "alice@local.test"))
        sinks.wait_removed(s.d, first, limit=60)
        assert len(s.files("alice")) == 1
        port = own.port
        own.stop()

        content = clean("while down", "alice@local.test")
        qid = sinks.send(s.d, "s@example.com", ["alice@local.test"], content)
        if failure == "defer":
            (e,) = sinks.wait_status(s.d, qid, "deferred", limit=30)[:1]
            assert e.dsn == "4.3.0" and "spam check failed" in e.text, e.line
            assert "Connection refused" in e.text, e.line
            assert qid in s.d.queued_ids()
            assert len(s.files("alice")) == 1 and s.files("alice", ".Junk") == []
            # Once spamd is back, the retry scans and delivers it.
            own.start(port=port)
            sinks.wait_removed(s.d, qid, limit=60)
            datas = s.files("alice")
            assert len(datas) == 2
            assert sorted(parse(d).get_all("X-Spam-Flag")[0] for d in datas) == ["NO", "NO"]
        else:
            sinks.wait_removed(s.d, qid, limit=30)
            (e,) = sinks.deliveries(s.d, qid)
            assert e.status == "sent", e.line
            got = [parse(d) for d in s.files("alice")]
            assert len(got) == 2
            (m,) = [m for m in got if m["Subject"] == "while down"]
            assert m.get_all("X-Spam-Status") == ["unscanned (spam check failed)"], m.items()
            assert m.get_all("X-Spam-Flag") is None
            assert sinks.log_has(s.d, "delivered unscanned")
    finally:
        own.stop()
