"""mailproc against real MTAs and an LMTP server, in both directions, on
loopback (peers.py starts them as private instances; root needed):

  Postfix   mailproc -> Postfix smtpd -> local(8) into a user's ~/Maildir;
            Postfix (relayhost) -> mailproc -> sink; STARTTLS both ways
            (mailproc `smtp_tls = encrypt` to Postfix with a certificate, and
            Postfix `smtp_tls_security_level = encrypt` to mailproc's
            tls_cert/tls_key); `encrypt` never falls back to plaintext
  Exim      mailproc -> Exim -> Maildir; Exim (manualroute) -> mailproc -> sink
  Dovecot   `lmtp:127.0.0.1:PORT` and `lmtp:unix:/path` into Maildirs read with
            Python's mailbox; per-recipient LMTP replies (one user unknown)
  reuse     100 messages to one relay host over far fewer than 100 connections
"""

import mailbox

import mp
import peers
import sinks
from peers import exim_root, make_dovecot, make_exim, make_postfix, unix_user  # noqa: F401  (fixtures)
from sinks import make_sink  # noqa: F401  (fixture)

SENDER = "alice@example.com"
BODY = b"first line\r\n.a line starting with a dot\r\n" + b"y" * 900 + b"\r\nlast line\r\n"


def relay_conf(relayhost: str, **extra) -> dict:
    conf = dict(sinks.FAST, relayhost=relayhost)
    conf.update(extra)
    return conf


def with_transport(make_daemon, conf: dict, lines):
    d = make_daemon(conf, start=False)
    d.conf["transport"] = str(sinks.write_map(d.dir / "transport", lines))
    return d.start()


def maildir_messages(path, count: int, limit: float, *logs_of) -> list:
    """Waits until the Maildir at `path` holds `count` messages; returns them."""
    def messages():
        try:
            box = mailbox.Maildir(str(path), factory=None, create=False)
            found = [box.get_message(k) for k in box.keys()]
        except (FileNotFoundError, mailbox.NoSuchMailboxError):
            return None
        return found if len(found) >= count else None
    return peers.wait_with_logs(messages, limit, f"{count} message(s) in {path}", *logs_of)


def body_of(msg) -> bytes:
    return msg.get_payload(decode=False).encode("utf-8", "surrogateescape").replace(b"\n", b"\r\n")


def received_headers(msg) -> list:
    return [" ".join(str(h).split()) for h in msg.get_all("Received", [])]


def wait_sink(sink, count: int, limit: float, *logs_of) -> list:
    peers.wait_with_logs(lambda: len(sink.delivered()) >= count, limit,
                         f"{count} message(s) at sink {sink.name}", *logs_of)
    return sink.delivered()


# ---------------------------------------------------------------- Postfix


def test_postfix_receives_into_maildir(make_daemon, make_postfix, unix_user):
    pf = make_postfix(local_domain="example.org")
    d = make_daemon(relay_conf(pf.hostport))
    rcpt = f"{unix_user.name}@example.org"
    content = sinks.message("to postfix", BODY, SENDER, rcpt)
    qid = sinks.send(d, SENDER, [rcpt], content)
    sinks.wait_removed(d, qid, limit=30)
    (msg,) = maildir_messages(unix_user.home / "Maildir", 1, 60, pf, d)
    assert msg["Subject"] == "to postfix" and msg["Message-ID"] in content.decode()
    assert msg["Return-Path"] == f"<{SENDER}>", msg["Return-Path"]
    assert msg["Delivered-To"] == rcpt, msg["Delivered-To"]
    assert body_of(msg) == content.split(b"\r\n\r\n", 1)[1]
    received = received_headers(msg)
    assert any("by mx.test" in r and qid in r for r in received), received  # ours, passed on
    assert "from mx.test" in received[0] and "by postfix.test" in received[0], received[0]
    (line,) = [e for e in sinks.deliveries(d, qid) if e.status == "sent"]
    assert line.relay == f"127.0.0.1[127.0.0.1]:{pf.port}" and line.dsn.startswith("2."), line.line


def test_postfix_relays_into_mailproc(make_daemon, make_postfix, make_sink):
    sink = make_sink("after-mailproc")
    d = make_daemon(relay_conf(sink.hostport))
    pf = make_postfix(relayhost=f"{d.host}:{d.port}")
    content = sinks.message("from postfix", BODY, SENDER, "bob@example.net")
    pf.submit(SENDER, ["bob@example.net"], content)
    (t,) = wait_sink(sink, 1, 60, pf, d)
    assert t.sender == SENDER and t.accepted == ["bob@example.net"], (t.sender, t.rcpts)
    ours, rest = mp.split_received(t.data)
    assert b"from postfix.test" in ours and b"by mx.test" in ours, ours
    theirs = mp.split_received(rest)[0]
    assert b"by postfix.test" in theirs, theirs
    assert rest.endswith(content.split(b"\r\n\r\n", 1)[1]), rest[-200:]
    assert b"Subject: from postfix" in rest
    assert "status=sent" in pf.log_text() and f"relay=127.0.0.1[127.0.0.1]:{d.port}" in pf.log_text()


def test_mailproc_starttls_to_postfix(make_daemon, make_postfix, make_sink, workdir):
    sink = make_sink("after-postfix")
    certdir = workdir / "pfcert"
    certdir.mkdir()
    pf = make_postfix(relayhost=sink.hostport, tls=mp.make_cert(certdir))
    d = make_daemon(relay_conf(pf.hostport, smtp_tls="encrypt"))
    content = sinks.message("tls to postfix", BODY, SENDER, "bob@example.net")
    qid = sinks.send(d, SENDER, ["bob@example.net"], content)
    (t,) = wait_sink(sink, 1, 60, pf, d)
    postfix_received = mp.split_received(t.data)[0].decode("utf-8", "replace")
    assert "from mx.test" in postfix_received and "with ESMTPS" in postfix_received, postfix_received
    assert "(using TLS" in postfix_received, postfix_received
    assert "TLS connection established from localhost[127.0.0.1]" in pf.log_text(), pf.log_tail()
    (line,) = sinks.wait_status(d, qid, "sent", limit=30)
    assert line.relay == f"127.0.0.1[127.0.0.1]:{pf.port}", line.line
    assert "TLS connection established" in d.log_text(), d.log_tail()


def test_mailproc_encrypt_never_sends_in_plaintext(make_daemon, make_postfix, make_sink):
    sink = make_sink("after-postfix")
    pf = make_postfix(relayhost=sink.hostport)  # no certificate: no STARTTLS offered
    d = make_daemon(relay_conf(pf.hostport, smtp_tls="encrypt"))
    content = sinks.message("must not leak", BODY, SENDER, "bob@example.net")
    qid = sinks.send(d, SENDER, ["bob@example.net"], content)
    (line,) = sinks.wait_status(d, qid, "deferred", limit=30)[:1]
    assert line.dsn.startswith("4.") and "TLS" in line.text, line.line
    assert mp.find_queue_file(d.spool, qid, ("deferred", "active")), "message left the queue"
    assert pf.queue_count() == 0 and sink.delivered() == [], pf.log_tail()
    assert "from=<alice@example.com>" not in pf.log_text(), pf.log_tail()


def test_postfix_starttls_into_mailproc(make_daemon, make_postfix, make_sink, tls_files):
    sink = make_sink("after-mailproc")
    cert, key = tls_files
    d = make_daemon(relay_conf(sink.hostport, tls_cert=str(cert), tls_key=str(key)))
    pf = make_postfix(relayhost=f"{d.host}:{d.port}", smtp_tls_level="encrypt")
    content = sinks.message("tls from postfix", BODY, SENDER, "bob@example.net")
    pf.submit(SENDER, ["bob@example.net"], content)
    (t,) = wait_sink(sink, 1, 60, pf, d)
    ours = mp.split_received(t.data)[0].decode("utf-8", "replace")
    assert "ESMTPS" in ours and "from postfix.test" in ours, ours
    assert f"TLS connection established to 127.0.0.1[127.0.0.1]:{d.port}" in pf.log_text(), pf.log_tail()
    assert t.data.endswith(content.split(b"\r\n\r\n", 1)[1])


# ---------------------------------------------------------------- Exim


def test_mailproc_delivers_to_exim(make_daemon, make_exim):
    ex = make_exim(local_domains=("example.org",))
    d = make_daemon(relay_conf(ex.hostport))
    content = sinks.message("to exim", BODY, SENDER, "carol@example.org")
    qid = sinks.send(d, SENDER, ["carol@example.org"], content)
    sinks.wait_removed(d, qid, limit=30)
    (msg,) = maildir_messages(ex.maildir, 1, 60, ex, d)
    assert msg["Subject"] == "to exim" and msg["Envelope-to"] == "carol@example.org", msg.items()
    assert msg["Return-path"] == f"<{SENDER}>", msg["Return-path"]
    assert body_of(msg) == content.split(b"\r\n\r\n", 1)[1]
    received = received_headers(msg)
    assert "helo=mx.test" in received[0] and "by exim.test" in received[0], received[0]
    assert any("by mx.test" in r for r in received[1:]), received


def test_exim_relays_into_mailproc(make_daemon, make_exim, make_sink):
    sink = make_sink("after-mailproc")
    d = make_daemon(relay_conf(sink.hostport))
    ex = make_exim(local_domains=("exim.local",), relay_to=f"{d.host}:{d.port}")
    content = sinks.message("from exim", BODY, SENDER, "dan@example.net")
    peers.submit("127.0.0.1", ex.port, SENDER, ["dan@example.net"], content)
    (t,) = wait_sink(sink, 1, 60, ex, d)
    assert t.sender == SENDER and t.accepted == ["dan@example.net"], (t.sender, t.rcpts)
    ours, rest = mp.split_received(t.data)
    assert b"from exim.test" in ours and b"by mx.test" in ours, ours
    assert b"by exim.test" in mp.split_received(rest)[0] and b"Subject: from exim" in rest
    assert rest.endswith(content.split(b"\r\n\r\n", 1)[1]), rest[-200:]


# ---------------------------------------------------------------- Dovecot LMTP


def lmtp_delivery(make_daemon, make_sink, next_hop: str, rcpts):
    sink = make_sink("ndr")  # everything not for example.org, e.g. NDRs to the sender
    d = with_transport(make_daemon, relay_conf(sink.hostport), [f"example.org {next_hop}"])
    content = sinks.message("over lmtp", BODY, SENDER, rcpts[0])
    qid = sinks.send(d, SENDER, rcpts, content)
    return d, sink, qid, content


def assert_in_dovecot(dv, user: str, content: bytes, d):
    (msg,) = maildir_messages(dv.maildir(user), 1, 60, dv, d)
    assert msg["Subject"] == "over lmtp", msg.items()
    assert msg["Return-Path"] == f"<{SENDER}>", msg["Return-Path"]
    assert body_of(msg) == content.split(b"\r\n\r\n", 1)[1]
    assert any("by mx.test" in r for r in received_headers(msg)), received_headers(msg)


def test_lmtp_to_dovecot_tcp(make_daemon, make_dovecot, make_sink):
    dv = make_dovecot()
    rcpts = ["u1@example.org", "u2@example.org"]
    d, sink, qid, content = lmtp_delivery(make_daemon, make_sink, f"lmtp:127.0.0.1:{dv.port}", rcpts)
    sinks.wait_removed(d, qid, limit=30)
    for user in ("u1", "u2"):
        assert_in_dovecot(dv, user, content, d)
    lines = [e for e in sinks.deliveries(d, qid) if e.status == "sent"]
    assert sorted(e.to for e in lines) == rcpts, [e.line for e in sinks.deliveries(d, qid)]
    assert all(e.dsn.startswith("2.") for e in lines), [e.line for e in lines]
    assert sink.connections == 0


def test_lmtp_to_dovecot_unix_socket(make_daemon, make_dovecot, make_sink):
    dv = make_dovecot()
    d, sink, qid, content = lmtp_delivery(make_daemon, make_sink, f"lmtp:unix:{dv.socket}",
                                          ["u3@example.org"])
    sinks.wait_removed(d, qid, limit=30)
    assert_in_dovecot(dv, "u3", content, d)
    (line,) = [e for e in sinks.deliveries(d, qid) if e.status == "sent"]
    assert line.to == "u3@example.org" and line.dsn.startswith("2."), line.line


def test_lmtp_per_recipient_replies(make_daemon, make_dovecot, make_sink):
    dv = make_dovecot(users=["known"])
    d, sink, qid, content = lmtp_delivery(make_daemon, make_sink, f"lmtp:127.0.0.1:{dv.port}",
                                          ["known@example.org", "stranger@example.org"])
    (bounced,) = sinks.wait_status(d, qid, "bounced", to="stranger@example.org", limit=30)
    assert bounced.dsn.startswith("5."), bounced.line
    sinks.wait_removed(d, qid, limit=30)
    assert_in_dovecot(dv, "known", content, d)
    assert [e.status for e in sinks.deliveries(d, qid, to="known@example.org")] == ["sent"]
    (ndr,) = wait_sink(sink, 1, 30, d)
    assert ndr.sender == "" and ndr.accepted == [SENDER]
    _msg, _per_msg, blocks = sinks.parse_report(ndr.data)
    assert [sinks.field_value(b, "Final-Recipient") for b in blocks] == ["stranger@example.org"]
    assert not dv.maildir("stranger").exists()


# ---------------------------------------------------------------- connection reuse


def test_connection_reuse_to_relay_host(make_daemon, make_sink):
    sink = make_sink("reuse")
    d = make_daemon(relay_conf(sink.hostport, smtp_connection_cache_time="10s"))
    n = 100
    with d.session() as c:
        for i in range(n):
            content = sinks.message(f"reuse {i}", sender=SENDER, to=f"r{i}@example.net")
            replies, final = c.send_message(SENDER, [f"r{i}@example.net"], content, ehlo=False)
            assert final is not None and final.code == 250, (replies, final)
        c.cmd("QUIT")
    sink.wait_delivered(n, limit=90)
    sinks.wait_queue_empty(d, limit=30)
    got = sorted(a for t in sink.delivered() for a in t.accepted)
    assert got == sorted(f"r{i}@example.net" for i in range(n))
    assert sink.connections < 30, f"{sink.connections} connections for {n} messages"
    assert not sink.errors, sink.errors
