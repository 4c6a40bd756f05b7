"""Front-end limits and protocol errors: SIZE, max_recipients, the 1000-octet
command line, VRFY/EXPN, unknown commands, the 20-error limit, connections
per IP and the idle timeout."""

import time

import mp

LIMIT = 10000


def test_ehlo_advertises_size_limit(make_daemon):
    d = make_daemon({"message_size_limit": LIMIT})
    with d.client() as c:
        c.greeting()
        kw = c.ehlo().keywords()
    assert kw.get("SIZE") == [str(LIMIT)], kw


def test_mail_size_parameter_over_limit(make_daemon):
    d = make_daemon({"message_size_limit": LIMIT})
    with d.session() as c:
        r = c.cmd(f"MAIL FROM:<a@example.com> SIZE={LIMIT + 1}")
        assert r.code == 552 and r.enhanced == "5.3.4", r
        r = c.cmd(f"MAIL FROM:<a@example.com> SIZE={LIMIT}")
        assert r.code == 250, r


def test_message_over_limit_refused_after_data(make_daemon):
    d = make_daemon({"message_size_limit": LIMIT})
    body = b"".join(b"%05d %s\r\n" % (i, b"x" * 70) for i in range(3 * LIMIT // 77))
    content = mp.build_message("too big", body)
    assert len(content) > 2 * LIMIT
    with d.session() as c:
        replies, final = c.send_message("a@example.com", ["b@example.net"], content)
        assert [r.code for r in replies] == [250, 250, 354], replies
        assert final.code == 552 and final.enhanced == "5.3.4", final
        # The session goes on, in sync.
        assert c.cmd("NOOP").code == 250
        small = mp.build_message("small after big")
        _, ok = c.send_message("a@example.com", ["b@example.net"], small, ehlo=False)
        assert ok.code == 250, ok
    assert d.queued_ids() == {ok.queue_id}


def test_message_under_limit_accepted(make_daemon):
    d = make_daemon({"message_size_limit": LIMIT})
    content = mp.build_message("fits", b"y" * 60 + b"\r\n")
    with d.session() as c:
        _, final = c.send_message("a@example.com", ["b@example.net"], content)
    assert final.code == 250, final
    mp.assert_stored(d, final.queue_id, content)


def test_max_recipients(make_daemon):
    d = make_daemon({"max_recipients": 3})
    content = mp.build_message("four rcpts")
    rcpts = [f"r{i}@example.net" for i in range(1, 5)]
    with d.session() as c:
        replies, final = c.send_message("a@example.com", rcpts, content)
    codes = [r.code for r in replies]
    assert codes == [250, 250, 250, 250, 452, 354], replies
    assert replies[4].enhanced == "4.5.3", replies[4]
    assert final.code == 250, final
    qf = mp.assert_stored(d, final.queue_id, content)
    assert sorted(qf.recipients) == rcpts[:3], qf.fields


def test_command_line_over_1000_octets(daemon):
    with daemon.session() as c:
        line = b"MAIL FROM:<" + b"a" * 1074 + b"@example.com>"
        assert len(line + b"\r\n") == 1100
        r = c.cmd(line)
        assert r.code == 500 and r.enhanced and r.enhanced.startswith("5.5."), r
        # Nothing of the long line is taken as a command: the next reply is NOOP's.
        assert c.cmd("NOOP").code == 250
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250


def test_command_line_of_exactly_1000_octets_accepted(daemon):
    line = b"NOOP " + b"x" * (1000 - 2 - 5)
    assert len(line + b"\r\n") == 1000
    with daemon.session() as c:
        r = c.cmd(line)
        assert r.code == 250, r


def test_vrfy_and_expn_reveal_nothing(daemon):
    with daemon.session() as c:
        r = c.cmd("VRFY root")
        assert r.code == 252, r
        r = c.cmd("VRFY nosuchuser")
        assert r.code == 252, r
        r = c.cmd("EXPN staff")
        assert r.code == 502, r


def test_unknown_command(daemon):
    with daemon.session() as c:
        r = c.cmd("FOOBAR baz")
        assert r.code == 500, r
        assert r.enhanced and r.enhanced.startswith("5.5."), r
        assert c.cmd("NOOP").code == 250


def test_twenty_errors_close_the_connection(daemon):
    with daemon.session() as c:
        errors, closing = [], []
        for i in range(30):
            try:
                c.send(b"BOGUS%d\r\n" % i)
                r = c.reply()
            except (EOFError, BrokenPipeError, ConnectionResetError):
                break
            (closing if r.code == 421 else errors).append(r)
            if r.code == 421:
                break
        assert all(500 <= r.code < 600 for r in errors), errors
        assert len(errors) == 20, f"{len(errors)} error replies before the close: {errors + closing}"
        assert c.closed(), "connection still open after 20 errors"


def test_connections_per_ip_limit(make_daemon):
    d = make_daemon({"max_connections_per_ip": 2})
    held = []
    try:
        # The start-up probe's connection may still be counted for a moment.
        def two_held():
            while len(held) < 2:
                c = d.client()
                r = c.reply()
                if r.code != 220:
                    c.close()
                    return False
                held.append(c)
            return True

        mp.wait_until(two_held, 5, what="two accepted connections")
        with d.client() as third:
            r = third.reply()
            assert r.code == 421 and r.enhanced == "4.7.0", r
            assert third.closed()
        # Another address is another client.
        with d.client(source="127.0.0.3") as other:
            assert other.reply().code == 220
    finally:
        for c in held:
            c.close()


def test_idle_session_times_out(make_daemon):
    d = make_daemon({"smtpd_timeout": "1s"})
    with d.session() as c:
        start = time.monotonic()
        r = c.reply()  # nothing sent: the next thing must be the timeout reply
        elapsed = time.monotonic() - start
        assert r.code == 421, r
        assert c.closed()
    assert 0.5 <= elapsed <= mp.timeout(5), elapsed


def test_max_connections_total(make_daemon):
    d = make_daemon({"max_connections": 2})
    held = []
    try:
        def two_held():
            while len(held) < 2:
                c = d.client(source=f"127.0.0.{len(held) + 2}")
                r = c.reply()
                if r.code != 220:
                    c.close()
                    return False
                held.append(c)
            return True

        mp.wait_until(two_held, 5, what="two accepted connections")
        with d.client(source="127.0.0.9") as third:
            r = third.reply()
            assert r.code == 421 and r.enhanced == "4.7.0", r
            assert third.closed()
    finally:
        for c in held:
            c.close()
