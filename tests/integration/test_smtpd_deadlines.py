"""Slow clients do not hold a slot forever: smtpd_timeout is a deadline for
each whole command line (not for each read), and DATA/BDAT must keep up
smtpd_min_data_rate bytes/s past the first smtpd_timeout. A client that misses
either gets `421 4.4.2 HOST Error: timeout exceeded`, the connection is closed
and the log says `timeout after CMD from unknown[127.0.0.1]` (with `(N bytes)`
during the data). A client that is quick enough is never cut off, however long
its session or its message takes."""

import re
import select
import time

import mp

TIMEOUT = {"smtpd_timeout": "2s"}
ENVELOPE = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"


def trickle(c, data: bytes, piece: int, interval: float, limit: float) -> int:
    """Sends `data` `piece` bytes at a time, one piece per `interval`, until the
    server says something or closes, or `limit` seconds have passed. Returns
    how many bytes went out."""
    sent = 0
    end = time.monotonic() + limit
    while sent < len(data) and time.monotonic() < end:
        try:
            c.send(data[sent : sent + piece])
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += piece
        readable, _, _ = select.select([c.sock], [], [], interval)
        if readable:
            break
    return min(sent, len(data))


def assert_timed_out(c, start, data_len, sent):
    r = c.reply()
    elapsed = time.monotonic() - start
    assert r.code == 421 and r.enhanced == "4.4.2", r
    assert r.text == "4.4.2 mx.test Error: timeout exceeded", r
    assert sent < data_len, f"the whole input went out ({sent} bytes) before the 421"
    assert c.closed()
    assert 1.5 <= elapsed <= mp.timeout(8), elapsed


def wait_for_log(d, pattern):
    return mp.wait_until(lambda: re.search(pattern, d.log_text()), limit=mp.timeout(5),
                         what=f"log line {pattern!r}")


def test_command_line_sent_one_byte_at_a_time_times_out(make_daemon):
    d = make_daemon(TIMEOUT)
    line = b"MAIL FROM:<someone.with.a.long.name@example.com>\r\n"  # 50 bytes: 25 s at 2 bytes/s
    with d.session() as c:
        start = time.monotonic()
        sent = trickle(c, line, 1, 0.5, limit=mp.timeout(10))
        assert_timed_out(c, start, len(line), sent)
    wait_for_log(d, r"timeout after EHLO from unknown\[127\.0\.0\.1\]")


def test_data_below_the_rate_floor_times_out(make_daemon):
    d = make_daemon(TIMEOUT)  # smtpd_min_data_rate: 500 bytes/s by default
    body = b"Subject: slow\r\n\r\n" + b"x" * 2000 + b"\r\n.\r\n"
    with d.session() as c:
        c.send(ENVELOPE + b"DATA\r\n")
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        start = time.monotonic()
        sent = trickle(c, body, 10, 0.5, limit=mp.timeout(10))  # 20 bytes/s
        assert_timed_out(c, start, len(body), sent)
    line = wait_for_log(d, r"timeout after DATA \((\d+) bytes\) from unknown\[127\.0\.0\.1\]")
    assert line and int(line.group(1)) > 0, line
    assert d.queued_ids() == set()


def test_bdat_chunk_below_the_rate_floor_times_out(make_daemon):
    d = make_daemon(TIMEOUT)
    chunk = b"Subject: slow\r\n\r\n" + b"x" * 2000 + b"\r\n"
    with d.session() as c:
        c.send(ENVELOPE + b"BDAT %d LAST\r\n" % len(chunk))
        assert [c.reply().code for _ in range(2)] == [250, 250]
        start = time.monotonic()
        sent = trickle(c, chunk, 10, 0.5, limit=mp.timeout(10))
        assert_timed_out(c, start, len(chunk), sent)
    wait_for_log(d, r"timeout after BDAT \(\d+ bytes\) from unknown\[127\.0\.0\.1\]")
    assert d.queued_ids() == set()


def test_quick_clients_are_not_cut_off(make_daemon):
    d = make_daemon(TIMEOUT)
    with d.session() as c:
        # A session longer than smtpd_timeout, each command line quick.
        start = time.monotonic()
        for _ in range(30):
            assert c.cmd("NOOP").code == 250
            if time.monotonic() - start > 3:
                break
            time.sleep(0.5)  # the client thinking between commands
        assert time.monotonic() - start > 2
        # Message data for longer than smtpd_timeout, well above the rate floor.
        c.send(ENVELOPE + b"DATA\r\n")
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        body = b"Subject: steady\r\n\r\n" + (b"y" * 998 + b"\r\n") * 12
        start = time.monotonic()
        for i in range(0, len(body), 1000):
            c.send(body[i : i + 1000])  # 4000 bytes/s for 3 s
            time.sleep(0.25)
        assert time.monotonic() - start > 2
        c.send(b".\r\n")
        r = c.reply()
        assert r.code == 250 and r.queue_id, r
        # And an ordinary fast transaction.
        _, final = c.send_message("a@example.com", ["b@example.net"], mp.build_message("fast"),
                                  ehlo=False)
        assert final.code == 250, final
    assert d.queued_ids() == {r.queue_id, final.queue_id}
    assert "timeout after" not in d.log_text()
