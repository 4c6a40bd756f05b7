"""SMTP front end, the basics: greeting and EHLO, pipelined and classic
transactions from raw sockets, smtplib and swaks, transparency (dot-stuffing),
8BITMIME, SMTPUTF8, long lines, BDAT, and that what is stored after the
prepended Received: header is byte-identical to what was sent."""

import smtplib

import pytest

import mp


def test_greeting_and_ehlo_extensions(daemon):
    with daemon.client() as c:
        greeting = c.greeting()
        assert "mx.test" in greeting.text, greeting
        ehlo = c.ehlo()
        assert "mx.test" in ehlo.lines[0], ehlo
        kw = ehlo.keywords()
        for ext in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING"):
            assert ext in kw, f"EHLO does not advertise {ext}: {ehlo}"
        assert "STARTTLS" not in kw, f"STARTTLS offered without tls_cert: {ehlo}"
        assert c.cmd("QUIT").code == 221
        assert c.closed()


def test_helo_then_transaction(daemon):
    content = mp.build_message("helo")
    with daemon.client() as c:
        c.greeting()
        assert c.cmd("HELO client.test").code == 250
        replies, final = c.send_message("a@example.com", ["b@example.net"], content,
                                        ehlo=False, pipelined=False)
        assert [r.code for r in replies] == [250, 250, 354], replies
        assert final.code == 250 and final.queue_id, final
    mp.assert_stored(daemon, final.queue_id, content)


def test_pipelined_transaction_raw_socket(daemon):
    content = mp.build_message("pipelined", b"line one\r\nline two\r\n")
    with daemon.session() as c:
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n")
        replies = [c.reply() for _ in range(4)]
        assert [r.code for r in replies] == [250, 250, 250, 354], replies
        c.send(mp.dot_stuff(content) + b".\r\n")
        final = c.reply()
    assert final.code == 250 and final.text.startswith("2.0.0 Ok: queued as "), final
    qf = mp.assert_stored(daemon, final.queue_id, content)
    assert qf.sender == "a@example.com", qf.fields
    assert sorted(qf.recipients) == ["b@example.net", "c@example.net"], qf.fields


def test_two_pipelined_transactions_in_one_session(daemon):
    first = mp.build_message("first")
    second = mp.build_message("second", b"other body\r\n")
    with daemon.session() as c:
        _, r1 = c.send_message("a@example.com", ["b@example.net"], first, ehlo=False)
        # RSET and the whole next envelope in one write.
        c.send(b"RSET\r\nMAIL FROM:<x@example.com>\r\nRCPT TO:<y@example.net>\r\nDATA\r\n")
        replies = [c.reply() for _ in range(4)]
        assert [r.code for r in replies] == [250, 250, 250, 354], replies
        c.send(mp.dot_stuff(second) + b".\r\n")
        r2 = c.reply()
        assert c.cmd("QUIT").code == 221
    assert r1.code == 250 and r2.code == 250, (r1, r2)
    assert r1.queue_id != r2.queue_id
    mp.assert_stored(daemon, r1.queue_id, first)
    qf = mp.assert_stored(daemon, r2.queue_id, second)
    assert qf.sender == "x@example.com" and qf.recipients == ["y@example.net"], qf.fields


def test_smtplib_transaction(daemon):
    content = mp.build_message("smtplib", b"via smtplib\r\n")
    with smtplib.SMTP(daemon.host, daemon.port, local_hostname="client.test", timeout=mp.timeout(10)) as s:
        s.ehlo()
        assert s.has_extn("pipelining")
        assert s.mail("a@example.com")[0] == 250
        assert s.rcpt("b@example.net")[0] == 250
        code, resp = s.data(content)
    assert code == 250, resp
    qid = mp.QUEUED_AS.search(resp.decode()).group(1)
    mp.assert_stored(daemon, qid, content)


def test_dot_stuffed_lines_are_unstuffed(daemon):
    body = b".leading dot\r\n..two dots\r\n.\r\n...\r\nend . \r\n. space\r\n"
    content = mp.build_message("dots", body)
    stuffed = mp.dot_stuff(content)
    assert b"\r\n..leading dot\r\n" in stuffed and b"\r\n..\r\n" in stuffed
    with daemon.session() as c:
        _, final = c.send_message("a@example.com", ["b@example.net"], content)
    assert final.code == 250, final
    mp.assert_stored(daemon, final.queue_id, content)


def test_swaks_pipelined_with_dot_lines(daemon, workdir):
    # swaks dot-stuffs, turns LF into CRLF and ends the last line with CRLF.
    data = b"Subject: swaks dots\nFrom: <a@example.com>\n\n.leading dot\n..two dots\n.\nend\n. space"
    path = workdir / "swaks-msg.txt"
    path.write_bytes(data)
    r = mp.swaks("--server", f"{daemon.host}:{daemon.port}", "--pipeline", "--from", "a@example.com",
                 "--to", "b@example.net,c@example.net", "--data", f"@{path}")
    assert r.returncode == 0, mp.out(r)
    ids = mp.swaks_queue_ids(r)
    assert len(ids) == 1, mp.out(r)
    qf = mp.assert_stored(daemon, ids[0], data.replace(b"\n", b"\r\n") + b"\r\n")
    assert sorted(qf.recipients) == ["b@example.net", "c@example.net"], qf.fields


def test_8bitmime_body_kept_byte_exact(daemon):
    body = "caf\u00e9 na\u00efve \u20ac\r\n".encode() + b"latin-1: \xe9\xe8\xff\r\nnul-free \x80\x81\xfe\r\n"
    content = mp.build_message("8bit", body, extra=b"Content-Transfer-Encoding: 8bit\r\n")
    with smtplib.SMTP(daemon.host, daemon.port, local_hostname="client.test", timeout=mp.timeout(10)) as s:
        s.ehlo()
        assert s.has_extn("8bitmime")
        assert s.mail("a@example.com", ["BODY=8BITMIME"])[0] == 250
        assert s.rcpt("b@example.net")[0] == 250
        code, resp = s.data(content)
    assert code == 250, resp
    qf = mp.assert_stored(daemon, mp.QUEUED_AS.search(resp.decode()).group(1), content)
    assert qf.get("eightbit") == "yes" and qf.get("smtputf8") == "no", qf.fields


def test_smtputf8_address_and_body(daemon):
    sender, rcpt = "j\u00f6rg@b\u00fccher.example", "\u7528\u6237@example.net"
    content = (
        f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: gr\u00fc\u00dfe \u2713\r\n\r\n"
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u4e16\u754c\r\n"
    ).encode()
    with smtplib.SMTP(daemon.host, daemon.port, local_hostname="client.test", timeout=mp.timeout(10)) as s:
        s.ehlo()
        assert s.has_extn("smtputf8")
        code, resp = s.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"])
        assert code == 250, resp
        code, resp = s.rcpt(rcpt)
        assert code == 250, resp
        code, resp = s.data(content)
    assert code == 250, resp
    qf = mp.assert_stored(daemon, mp.QUEUED_AS.search(resp.decode()).group(1), content)
    assert qf.sender == sender, qf.fields
    assert qf.recipients == [rcpt], qf.fields
    assert qf.get("smtputf8") == "yes" and qf.get("eightbit") == "yes", qf.fields


def test_utf8_address_without_smtputf8_refused(daemon):
    with daemon.session() as c:
        r = c.cmd("MAIL FROM:<j\u00f6rg@example.com>")
        assert 500 <= r.code < 600, r
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        r = c.cmd("RCPT TO:<\u7528\u6237@example.net>")
        assert 500 <= r.code < 600, r


def test_line_of_5000_octets_kept_intact(daemon):
    long_line = bytes((ord("a") + i % 26) for i in range(5000))
    content = mp.build_message("long line", b"before\r\n" + long_line + b"\r\nafter\r\n")
    with daemon.session() as c:
        _, final = c.send_message("a@example.com", ["b@example.net"], content)
    assert final.code == 250, final
    qf = mp.assert_stored(daemon, final.queue_id, content)
    assert b"\r\n" + long_line + b"\r\n" in qf.content


def test_bdat_chunking(daemon):
    content = mp.build_message("bdat", b".not stuffed in BDAT\r\nsecond chunk follows\r\n")
    part1, part2 = content[:30], content[30:]
    with daemon.session() as c:
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n")
        assert [c.reply().code for _ in range(2)] == [250, 250]
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        r1 = c.reply()
        assert r1.code == 250, r1
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        final = c.reply()
    assert final.code == 250 and final.queue_id, final
    mp.assert_stored(daemon, final.queue_id, content)


def test_received_header_prepended_once(daemon):
    earlier = b"Received: from earlier.test by relay.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    content = mp.build_message("received", extra=earlier)
    with daemon.session() as c:
        _, final = c.send_message("a@example.com", ["b@example.net"], content)
    qf = mp.assert_stored(daemon, final.queue_id, content)
    received, _ = mp.split_received(qf.content)
    text = received.decode("utf-8", "replace")
    assert "by mx.test" in text, text
    assert "127.0.0.1" in text, text
    assert "ESMTP" in text, text
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), text


def test_source_route_accepted_and_dropped(daemon):
    content = mp.build_message("source route")
    with daemon.session() as c:
        r = c.cmd("MAIL FROM:<@relay1.example,@relay2.example:a@example.com>")
        assert r.code == 250, r
        r = c.cmd("RCPT TO:<@hop.example:b@example.net>")
        assert r.code == 250, r
        assert c.cmd("DATA").code == 354
        c.send(mp.dot_stuff(content) + b".\r\n")
        final = c.reply()
    assert final.code == 250, final
    qf = mp.assert_stored(daemon, final.queue_id, content)
    assert qf.sender == "a@example.com", qf.fields
    assert qf.recipients == ["b@example.net"], qf.fields


def test_null_sender_accepted(daemon):
    content = mp.build_message("bounce-like")
    with daemon.session() as c:
        _, final = c.send_message("", ["b@example.net"], content)
    assert final.code == 250, final
    qf = mp.assert_stored(daemon, final.queue_id, content)
    assert qf.sender == "", qf.fields


def test_rset_discards_transaction(daemon):
    with daemon.session() as c:
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<b@example.net>").code == 250
        assert c.cmd("RSET").code == 250
        r = c.cmd("DATA")
        assert r.code == 503 and r.enhanced == "5.5.1", r
        assert c.cmd("QUIT").code == 221
    assert daemon.queued_ids() == set()


def test_bad_sequence_replies(daemon):
    with daemon.session() as c:
        r = c.cmd("RCPT TO:<b@example.net>")
        assert r.code == 503, r
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        r = c.cmd("MAIL FROM:<a@example.com>")
        assert r.code == 503, r
        r = c.cmd("DATA")
        assert r.code in (503, 554), r
        r = c.cmd("MAIL FROM:<not an address")
        assert 500 <= r.code < 600, r
        assert c.cmd("NOOP").code == 250


@pytest.mark.skipif(not mp.ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
def test_ipv6_listener(make_daemon):
    d = make_daemon(listeners=[("smtp", "::1")])
    content = mp.build_message("over ipv6")
    with d.session() as c:
        _, final = c.send_message("a@example.com", ["b@example.net"], content)
    assert final.code == 250, final
    mp.assert_stored(d, final.queue_id, content)
