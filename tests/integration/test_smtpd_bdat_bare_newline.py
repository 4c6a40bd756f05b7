"""SMTP smuggling through BDAT (RFC 3030 chunks): the bare_newline rule of
DATA holds for BDAT content too. With bare_newline=reject a message holding a
bare CR or LF in any chunk is refused with DATA's 550 5.6.0 and nothing is
queued; with normalize exactly one message is queued with CRLF line ends. A CR
ending one chunk and an LF starting the next is a proper CRLF."""

import pytest

import mp

HEAD = b"From: <a@example.com>\r\nTo: <b@example.net>\r\nSubject: carrier\r\n\r\n"
SMUGGLED = b"MAIL FROM:<x@evil.example>\r\nRCPT TO:<v@example.net>\r\nDATA\r\nevil\r\n"
ENVELOPE = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"

# Chunk lists whose content holds a bare CR or LF somewhere.
BARE = {
    "cr-dot-crlf": [HEAD + b"A\r.\r\n" + SMUGGLED],
    "lf-dot-lf": [HEAD + b"A\n.\n" + SMUGGLED],
    "bare-lf-in-first-chunk": [HEAD + b"a\nb", b"\r\n"],
    "cr-then-not-lf-next-chunk": [HEAD + b"a\r", b"b\r\n"],
    "cr-ending-last-chunk": [HEAD + b"a\r"],
    "cr-then-empty-last-chunk": [HEAD + b"a\r", b""],
}


def bdat(chunks) -> bytes:
    out = b""
    for i, c in enumerate(chunks):
        last = b" LAST" if i == len(chunks) - 1 else b""
        out += b"BDAT %d%s\r\n" % (len(c), last) + c
    return out


def send_chunks(d, chunks):
    """One BDAT transaction, pipelined, then QUIT; returns the replies after
    MAIL and RCPT (one per chunk, then the QUIT's)."""
    with d.session() as c:
        c.send(ENVELOPE + bdat(chunks) + b"QUIT\r\n")
        assert [c.reply().code for _ in range(2)] == [250, 250]
        return c.replies_until_close()


@pytest.mark.parametrize("name", sorted(BARE))
def test_reject_refuses_bdat_with_bare_newline(make_daemon, name):
    d = make_daemon({"bare_newline": "reject"})
    chunks = BARE[name]
    after = send_chunks(d, chunks)
    assert len(after) == len(chunks) + 1, after
    assert all(r.code == 250 for r in after[:-2]), after
    last = after[-2]
    assert last.code == 550 and last.enhanced == "5.6.0", f"{name}: {last}"
    assert "bare <CR> or <LF>" in last.text, last
    assert after[-1].code == 221, after
    assert d.queued_ids() == set()


def test_bdat_reply_is_the_data_reply(make_daemon):
    d = make_daemon({"bare_newline": "reject"})
    with d.session() as c:
        c.send(ENVELOPE + b"DATA\r\n")
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        c.send(HEAD + b"a\rb\r\n.\r\n")
        data_reply = c.reply()
    after = send_chunks(d, [HEAD + b"a\rb\r\n"])
    assert after[0].raw == data_reply.raw, (after[0], data_reply)
    assert d.queued_ids() == set()


def test_crlf_split_across_chunks_is_accepted(make_daemon):
    d = make_daemon({"bare_newline": "reject"})
    after = send_chunks(d, [HEAD + b"line one\r", b"\nline two\r", b"\n"])
    assert [r.code for r in after] == [250, 250, 250, 221], after
    qid = after[2].queue_id
    assert qid and d.queued_ids() == {qid}, after
    _, rest = mp.split_received(d.message(qid).content)
    assert rest == HEAD + b"line one\r\nline two\r\n", rest


def test_normalize_queues_one_message_with_crlf(make_daemon):
    d = make_daemon({"bare_newline": "normalize"})
    after = send_chunks(d, [HEAD + b"A\r.\r", b"\n" + SMUGGLED.replace(b"\r\n", b"\n") + b"z\r"])
    assert [r.code for r in after] == [250, 250, 221], after
    qid = after[1].queue_id
    assert qid and d.queued_ids() == {qid}, after
    qf = d.message(qid)
    assert qf.sender == "a@example.com" and qf.recipients == ["b@example.net"], qf.fields
    _, rest = mp.split_received(qf.content)
    assert rest == HEAD + b"A\r\n.\r\n" + SMUGGLED + b"z\r\n", rest
