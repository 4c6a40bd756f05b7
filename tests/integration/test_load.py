"""Load: Postfix's smtp-source with 200 parallel sessions sends 1000 messages;
every one is acknowledged (smtp-source exits 0 only if all got 250) and
exactly 1000 are queued."""

import mp

SESSIONS, MESSAGES = 200, 1000


def test_smtp_source_200_sessions_1000_messages(make_daemon):
    mp.require_tool(mp.SMTP_SOURCE, "postfix")
    d = make_daemon({"max_connections_per_ip": SESSIONS + 50, "max_connections": 1000})
    r = mp.run(
        [mp.SMTP_SOURCE, "-s", str(SESSIONS), "-m", str(MESSAGES), "-l", "4096",
         "-f", "a@example.com", "-t", "b@example.net", f"{d.host}:{d.port}"],
        limit=300,
    )
    assert r.returncode == 0, f"smtp-source exit {r.returncode}: {mp.out(r)[-2000:]}"
    # Every message was acknowledged, hence durably queued: poll only to ride
    # over moves between sub-queues while we list them.
    ids = mp.wait_until(lambda: (lambda s: s if len(s) >= MESSAGES else None)(d.queued_ids()), 30,
                        what=f"{MESSAGES} queue files")
    assert len(ids) == MESSAGES, len(ids)
    sample = sorted(ids)[:: MESSAGES // 20]
    for qid in sample:
        qf = d.message(qid)
        assert qf.sender == "a@example.com" and qf.recipients == ["b@example.net"], qf.fields
        assert len(qf.content) > 4096, len(qf.content)


def test_many_sequential_messages_one_connection(make_daemon):
    mp.require_tool(mp.SMTP_SOURCE, "postfix")
    d = make_daemon()
    r = mp.run(
        [mp.SMTP_SOURCE, "-d", "-s", "1", "-m", "100", "-r", "3", "-l", "1000",
         "-f", "a@example.com", "-t", "b@example.net", f"{d.host}:{d.port}"],
        limit=120,
    )
    assert r.returncode == 0, mp.out(r)[-2000:]
    ids = mp.wait_until(lambda: (lambda s: s if len(s) >= 100 else None)(d.queued_ids()), 30,
                        what="100 queue files")
    assert len(ids) == 100
    qf = d.message(sorted(ids)[0])
    assert len(qf.recipients) == 3, qf.fields
