"""LMTP front end (`lmtp:ADDR:PORT` listener): LHLO, and after the data one
reply per accepted recipient (RFC 2033), in RCPT order."""

import smtplib

import pytest

import mp

OUTSIDE = "127.0.0.2"


@pytest.fixture
def lmtp_daemon(make_daemon):
    return make_daemon(
        {"mynetworks": "127.0.0.1/32", "relay_domains": "example.org"},
        listeners=[("smtp", "127.0.0.1"), ("lmtp", "127.0.0.1")],
    )


def test_lhlo_capabilities(lmtp_daemon):
    host, port = lmtp_daemon.addr("lmtp")
    lm = smtplib.LMTP(host, port, local_hostname="client.test", timeout=mp.timeout(10))
    try:
        code, resp = lm.ehlo()  # smtplib's LMTP sends LHLO
        assert code == 250, resp
        assert lm.has_extn("pipelining") and lm.has_extn("enhancedstatuscodes"), lm.esmtp_features
    finally:
        lm.close()


def test_ehlo_is_not_lmtp(lmtp_daemon):
    with lmtp_daemon.client("lmtp") as c:
        c.greeting()
        r = c.cmd("EHLO client.test")
        assert 500 <= r.code < 600, r


def test_one_reply_per_accepted_recipient(lmtp_daemon):
    content = mp.build_message("lmtp mixed")
    with lmtp_daemon.session("lmtp", source=OUTSIDE) as c:
        replies, final = c.send_message("a@outside.test", ["u1@example.org", "u2@other.net"], content,
                                        ehlo=False)
        assert [r.code for r in replies] == [250, 250, 554, 354], replies
        assert final.code == 250, final
        # The next reply must be QUIT's: one data reply for the one accepted recipient.
        quit_reply = c.cmd("QUIT")
        assert quit_reply.code == 221, f"extra reply after the data: {quit_reply}"
    ids = lmtp_daemon.queued_ids()
    assert len(ids) == 1, ids
    qf = mp.assert_stored(lmtp_daemon, ids.pop(), content)
    assert qf.recipients == ["u1@example.org"], qf.fields
    assert "LMTP" in mp.split_received(qf.content)[0].decode()


def test_two_accepted_recipients_two_replies(lmtp_daemon):
    content = mp.build_message("lmtp two")
    with lmtp_daemon.session("lmtp") as c:
        replies, first = c.send_message("a@example.com", ["u1@example.org", "u2@other.net"], content,
                                        ehlo=False)
        assert [r.code for r in replies] == [250, 250, 250, 354], replies
        second = c.reply()
        assert first.code == 250 and second.code == 250, (first, second)
        assert c.cmd("QUIT").code == 221
    ids = lmtp_daemon.queued_ids()
    assert 1 <= len(ids) <= 2, ids
    rcpts = sorted(r for qid in ids for r in lmtp_daemon.message(qid).recipients)
    assert rcpts == ["u1@example.org", "u2@other.net"]
    for qid in ids:
        mp.assert_stored(lmtp_daemon, qid, content)


def test_swaks_lmtp(lmtp_daemon):
    host, port = lmtp_daemon.addr("lmtp")
    r = mp.swaks("--server", f"{host}:{port}", "--protocol", "LMTP", "--from", "a@example.com",
                 "--to", "u1@example.org,u2@example.org")
    assert r.returncode == 0, mp.out(r)
    ids = set(mp.swaks_queue_ids(r))
    assert ids and ids <= lmtp_daemon.queued_ids(), mp.out(r)
    rcpts = sorted(x for qid in ids for x in lmtp_daemon.message(qid).recipients)
    assert rcpts == ["u1@example.org", "u2@example.org"], rcpts


def test_smtp_listener_still_smtp(lmtp_daemon):
    with lmtp_daemon.client("smtp") as c:
        c.greeting()
        r = c.cmd("LHLO client.test")
        assert 500 <= r.code < 600, r
        assert c.ehlo().code == 250
