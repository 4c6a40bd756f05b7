"""Self-tests of the harness (mp.py): the queue-file parser, dot-stuffing and
the Received: splitter are the oracles of the other tests, so they are
checked here against hand-written inputs (no daemon needed)."""

import pytest

import mp

HEADER = (
    b"MAILPROC-QUEUE 1\nid: 0ABC\narrival: 1700000000\nsender: <j%25rg@example.com>\n"
    b"rcpt: <b@example.net>\nrcpt: <\xc3\xa9@example.org>\nhelo: client.test\nclient_addr: 127.0.0.1\n"
    b"client_name:\nprotocol: ESMTP\nsmtputf8: yes\neightbit: no\nsize: SIZE\n\n"
)
CONTENT = b"Received: from x\r\n\tby y; date\r\nSubject: s\r\n\r\nbody\r\n"


def head(size):
    return HEADER.replace(b"SIZE", b"%d" % size)


def write(workdir, data, name="0ABC"):
    path = workdir / name
    path.write_bytes(data)
    return path


def test_parse_complete_file(workdir):
    records = b"A 1 1700000300\nR 0 deferred 1 421 4.4.1 no%20way\n"
    qf = mp.parse_queue_file(write(workdir, head(len(CONTENT)) + CONTENT + records))
    assert qf.id == "0ABC" and qf.content == CONTENT
    assert qf.sender == "j%rg@example.com"
    assert qf.recipients == ["b@example.net", "\u00e9@example.org"]
    assert qf.get("client_name") == "" and qf.get("protocol") == "ESMTP"
    assert qf.records == ["A 1 1700000300", "R 0 deferred 1 421 4.4.1 no%20way"]
    assert not qf.torn
    received, rest = mp.split_received(qf.content)
    assert received == b"Received: from x\r\n\tby y; date\r\n" and rest == b"Subject: s\r\n\r\nbody\r\n"


def test_torn_last_record_is_ignored(workdir):
    qf = mp.parse_queue_file(write(workdir, head(len(CONTENT)) + CONTENT + b"A 1 17\nR 0 deliv"))
    assert qf.torn and qf.records == ["A 1 17"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MAILPROC-QUEUE 1\nid: 0ABC\n",  # header cut short
        head(len(CONTENT) + 1) + CONTENT,  # content cut short
        (head(len(CONTENT))).replace(b"helo: client.test\n", b"") + CONTENT,  # missing key
        (head(len(CONTENT))).replace(b"id: 0ABC", b"id: 0ABD") + CONTENT,  # id is not the name
        (head(len(CONTENT))).replace(b"rcpt: <b@example.net>", b"rcpt: b@example.net") + CONTENT,
        head(len(CONTENT)) + CONTENT + b"X what\n",  # unknown record type
        (head(len(CONTENT))).replace(b"size: ", b"size:") + CONTENT,  # malformed line
    ],
)
def test_incomplete_or_malformed_files_do_not_parse(workdir, data):
    with pytest.raises(mp.QueueFileError):
        mp.parse_queue_file(write(workdir, data))


def test_dot_stuff():
    assert mp.dot_stuff(b"a\r\n.b\r\n.\r\n") == b"a\r\n..b\r\n..\r\n"
    assert mp.dot_stuff(b"no final newline") == b"no final newline\r\n"
    assert mp.dot_stuff(b"") == b""


def test_split_received_needs_received_first():
    with pytest.raises(AssertionError):
        mp.split_received(b"Subject: x\r\n\r\n")


def test_reply_parsing():
    r = mp.Reply(250, ["2.0.0 Ok: queued as 1J0ABC"], b"")
    assert r.enhanced == "2.0.0" and r.queue_id == "1J0ABC"
    e = mp.Reply(250, ["mx.test", "PIPELINING", "SIZE 10000"], b"")
    assert e.keywords() == {"PIPELINING": [], "SIZE": ["10000"]}


def test_queue_listing(workdir):
    for sub in ("incoming", "deferred", "tmp"):
        (workdir / sub).mkdir()
    write(workdir / "incoming", head(len(CONTENT)) + CONTENT)
    write(workdir / "tmp", b"partial", name="T1")
    assert mp.queued_ids(workdir) == {"0ABC"}
    assert mp.find_queue_file(workdir, "0ABC") == workdir / "incoming" / "0ABC"
    assert set(mp.parse_all(workdir)) == {"0ABC"}


def test_wait_until_is_bounded():
    with pytest.raises(AssertionError):
        mp.wait_until(lambda: False, 0.05, what="never")
    assert mp.wait_until(lambda: 42, 1) == 42
