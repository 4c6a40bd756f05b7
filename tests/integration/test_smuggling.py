"""SMTP smuggling, end to end: a fake end-of-data made of bare LF / bare CR
followed by a second, smuggled transaction. A bare LF or CR never ends or
splits a message: with bare_newline=reject the message is refused and nothing
is queued; with normalize exactly one message is queued, holding the smuggled
text as content. Never two."""

import pytest

import mp

FAKE_ENDS = {
    "lf.lf": b"\n.\n",
    "lf.crlf": b"\n.\r\n",
    "crlf.lf": b"\r\n.\n",
    "cr.crlf": b"\r.\r\n",
    "crlf.cr": b"\r\n.\r",
    "cr.cr": b"\r.\r",
    "lf.cr": b"\n.\r",
    "cr.lf": b"\r.\n",
}
SMUGGLED = b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil body\r\n"
HEAD = b"From: <a@example.com>\r\nTo: <b@example.net>\r\nSubject: carrier\r\n\r\nhello"


def smuggle(d, fake_end):
    """Sends one carrier message with the smuggled transaction inside, then
    QUIT, all in one write after the 354; returns the replies that follow
    the 354 (until the server closes)."""
    with d.session() as c:
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        replies = [c.reply() for _ in range(3)]
        assert [r.code for r in replies] == [250, 250, 354], replies
        c.send(HEAD + fake_end + SMUGGLED + b".\r\nQUIT\r\n")
        return c.replies_until_close()


@pytest.mark.parametrize("name", sorted(FAKE_ENDS))
def test_reject_refuses_message_and_queues_nothing(make_daemon, name):
    d = make_daemon({"bare_newline": "reject"})
    after = smuggle(d, FAKE_ENDS[name])
    assert after, "no reply after the data"
    assert 500 <= after[0].code < 600, f"message with {name} not refused: {after}"
    assert all(r.queue_id is None for r in after), after
    # Only the QUIT's 221 may follow (the server may also just close).
    assert [r.code for r in after[1:]] in ([], [221]), after
    assert d.queued_ids() == set()


def test_reject_is_the_default(daemon):
    after = smuggle(daemon, FAKE_ENDS["lf.lf"])
    assert after and 500 <= after[0].code < 600, after
    assert daemon.queued_ids() == set()


@pytest.mark.parametrize("name", sorted(FAKE_ENDS))
def test_normalize_queues_exactly_one_message(make_daemon, name):
    d = make_daemon({"bare_newline": "normalize"})
    after = smuggle(d, FAKE_ENDS[name])
    assert [r.code for r in after] == [250, 221], f"with {name}: {after}"
    qid = after[0].queue_id
    assert qid, after[0]
    assert d.queued_ids() == {qid}
    qf = d.message(qid)
    assert qf.sender == "a@example.com" and qf.recipients == ["b@example.net"], qf.fields
    _, rest = mp.split_received(qf.content)
    assert rest.startswith(HEAD), rest[:200]
    assert b"MAIL FROM:<evil@x>" in rest and b"evil body" in rest, rest
    # Normalized: every line ends in CRLF, no bare CR or LF is left.
    assert rest.endswith(b"\r\n")
    stripped = rest.replace(b"\r\n", b"")
    assert b"\r" not in stripped and b"\n" not in stripped, rest


def test_reject_session_stays_in_sync(make_daemon):
    d = make_daemon({"bare_newline": "reject"})
    good = mp.build_message("after the refused one")
    with d.session() as c:
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        c.send(HEAD + b"\n.\n" + SMUGGLED + b".\r\n")
        refused = c.reply()
        assert 500 <= refused.code < 600, refused
        try:
            _, final = c.send_message("a@example.com", ["b@example.net"], good, ehlo=False)
        except EOFError:
            pytest.skip("server closes the session after refusing bare newlines")
    assert final.code == 250, final
    assert d.queued_ids() == {final.queue_id}
    mp.assert_stored(d, final.queue_id, good)


def test_normalize_bare_lf_inside_a_line(make_daemon):
    d = make_daemon({"bare_newline": "normalize"})
    with d.session() as c:
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        c.send(HEAD + b"\none\ntwo\r\n.\r\n")
        final = c.reply()
    assert final.code == 250, final
    _, rest = mp.split_received(d.message(final.queue_id).content)
    assert rest == HEAD + b"\r\none\r\ntwo\r\n", rest
