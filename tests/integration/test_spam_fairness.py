"""Fairness of the spam stage's per-user workers, against Debian's real spamd:
200 messages queued for unix user A, then one for user B. B's message is
delivered before A's backlog is half done; A never has more than
spam_workers_per_user scans at once (the worker's own counters, logged per
scan and at expiry; spamd counts the scans); idle workers disappear after
spam_worker_idle. Root only (two unix users are made for it)."""

from __future__ import annotations

import time

import pytest

import mp
import sinks
import spamd as sd

BACKLOG = 200
PER_USER = 2


@pytest.fixture
def spamd(workdir):
    # Only the GTUBE rule: each scan is a few tens of ms, so 201 scans stay quick.
    s = sd.Spamd(workdir / "spamd", rules="gtube", max_children=5)
    try:
        yield s.start()
    finally:
        s.stop()


def test_one_users_flood_does_not_starve_another(workdir, make_daemon, spamd):
    if not sinks.IS_ROOT:
        pytest.skip("needs root to create unix users")
    ua, ub = sinks.UnixUser(workdir / "home"), sinks.UnixUser(workdir / "home")
    try:
        maildirs = sinks.writable_dir(workdir / "maildirs")
        users = sinks.write_map(workdir / "users", [f"root {sinks.RUN_AS}", f"a {ua.name}", f"b {ub.name}"])
        transport = sinks.write_map(workdir / "transport", [f"local.test spam:maildir:{maildirs}/%u/Maildir"])
        d = make_daemon(dict(sinks.FAST, users=users, transport=transport, spamd=spamd.endpoint,
                             spam_workers_per_user=PER_USER, spam_worker_idle="1s"))

        def delivered(user) -> int:
            new = maildirs / user / "Maildir" / "new"
            return len(list(new.iterdir())) if new.is_dir() else 0

        def active() -> int:
            return len(mp.queued_ids(d.spool, ("active",)))

        # A's flood, then B's one message, all queued at the spam stage while spamd is
        # held (SIGSTOP): A's worker has 2 scans waiting for spamd and 198 behind them.
        spamd.pause()
        try:
            with d.session() as c:
                for i in range(BACKLOG):
                    _replies, final = c.send_message("s@example.com", ["a@local.test"],
                                                     sinks.message(f"flood {i}", to="a@local.test"),
                                                     ehlo=False)
                    assert final is not None and final.code == 250, final
                c.cmd("QUIT")
            mp.wait_until(lambda: active() == BACKLOG, 30, what=f"A's {BACKLOG} messages in active/")
            b_qid = sinks.send(d, "s@example.com", ["b@local.test"], sinks.message("for b", to="b@local.test"))
            mp.wait_until(lambda: active() == BACKLOG + 1, 30, what="B's message in active/")
            assert delivered(ua.name) == 0
        finally:
            spamd.resume()
        b_sent = time.monotonic()

        mp.wait_until(lambda: delivered(ub.name) == 1, 60, what="B's message in B's maildir")
        a_done = delivered(ua.name)
        b_took = time.monotonic() - b_sent
        assert a_done < BACKLOG // 2, f"B waited for {a_done} of A's {BACKLOG} messages"

        mp.wait_until(lambda: delivered(ua.name) == BACKLOG, 180, what=f"all {BACKLOG} of A's messages")
        sinks.wait_queue_empty(d, limit=30)

        # The worker's counters, as logged for every scan.
        a_lines = sd.spam_lines(d, ua.name)
        assert len(a_lines) == BACKLOG
        running = [int(m["running"]) for m in a_lines]
        assert max(running) == PER_USER, f"A's scans at once: {sorted(set(running))}"
        assert all(m["cap"] == str(PER_USER) for m in a_lines)
        (b_line,) = sd.spam_lines(d, ub.name)
        assert b_line["id"] == b_qid and b_line["running"] == "1"
        # B's scan went before A's backlog: the only A scans done before it are about
        # those that were already running (waiting for spamd) when B came.
        in_order = sd.spam_lines(d)
        b_at = next(i for i, m in enumerate(in_order) if m["user"] == ub.name)
        a_before = [m.group(0) for m in in_order[:b_at] if m["user"] == ua.name]
        assert len(a_before) <= PER_USER + 2, a_before
        # spamd saw every scan, for the right users.
        results = spamd.results()
        assert sum(r.user == ua.name for r in results) == BACKLOG
        assert sum(r.user == ub.name for r in results) == 1

        # Idle workers expire after spam_worker_idle, each reporting its counters.
        mp.wait_until(lambda: sinks.log_has(d, f"worker for user {ua.name} expired"), 15,
                      what="A's worker to expire")
        assert sinks.log_has(d, f"worker for user {ub.name} expired after 1s idle (1 scans, at most 1 at once)")
        assert sinks.log_has(
            d, f"worker for user {ua.name} expired after 1s idle ({BACKLOG} scans, at most {PER_USER} at once)")
        print(f"B delivered {b_took:.2f}s after it was sent, with {a_done} of A's {BACKLOG} done")
    finally:
        ua.remove()
        ub.remove()
