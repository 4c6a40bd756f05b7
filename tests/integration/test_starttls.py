"""STARTTLS: offered only when tls_cert/tls_key are set; swaks --tls and
Python's ssl deliver through it; the Received: header says ESMTPS; plaintext
pipelined after STARTTLS is never executed inside the TLS session."""

import smtplib

import pytest

import mp


@pytest.fixture
def tls_daemon(make_daemon, tls_files):
    cert, key = tls_files
    return make_daemon({"tls_cert": str(cert), "tls_key": str(key)})


def test_starttls_advertised_with_cert(tls_daemon):
    with tls_daemon.session() as c:
        c.send(b"EHLO client.test\r\n")
        kw = c.reply().keywords()
    assert "STARTTLS" in kw, kw


def test_starttls_not_advertised_without_cert(daemon):
    with daemon.session(ehlo=False) as c:
        kw = c.ehlo().keywords()
        assert "STARTTLS" not in kw, kw
        r = c.cmd("STARTTLS")
        assert 500 <= r.code < 600, r


def test_swaks_tls_delivers(tls_daemon):
    mp.require_perl_module("Net::SSLeay", "libnet-ssleay-perl")  # swaks' TLS support
    r = mp.swaks("--server", f"{tls_daemon.host}:{tls_daemon.port}", "--tls", "--pipeline",
                 "--from", "a@example.com", "--to", "b@example.net", "--body", "over TLS")
    assert r.returncode == 0, mp.out(r)
    assert "TLS started" in mp.out(r), mp.out(r)
    ids = mp.swaks_queue_ids(r)
    assert len(ids) == 1, mp.out(r)
    qf = tls_daemon.message(ids[0])
    received = mp.split_received(qf.content)[0].decode("utf-8", "replace")
    assert "ESMTPS" in received, received
    assert b"over TLS" in qf.content


def test_python_starttls_byte_exact(tls_daemon):
    content = mp.build_message("tls", b".dot line\r\n8bit \xc3\xa9\r\n")
    with smtplib.SMTP(tls_daemon.host, tls_daemon.port, local_hostname="client.test",
                      timeout=mp.timeout(10)) as s:
        s.ehlo()
        code, resp = s.starttls(context=mp.client_tls_context())
        assert code == 220, resp
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS offered again inside TLS"
        assert s.mail("a@example.com", ["BODY=8BITMIME"])[0] == 250
        assert s.rcpt("b@example.net")[0] == 250
        code, resp = s.data(content)
    assert code == 250, resp
    qid = mp.QUEUED_AS.search(resp.decode()).group(1)
    qf = mp.assert_stored(tls_daemon, qid, content)
    assert "ESMTPS" in mp.split_received(qf.content)[0].decode()


def test_plaintext_injected_after_starttls_is_not_executed(tls_daemon):
    # CVE-2011-0411 style: commands sent in the same packet as STARTTLS must
    # be discarded (or the STARTTLS refused), never run after the handshake.
    with tls_daemon.session() as c:
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
        r = c.reply()
        if r.code != 220:
            assert 500 <= r.code < 600, r
            return
        c.buf = b""  # whatever plaintext the server might have echoed is ignored
        c.starttls(mp.client_tls_context())
        ehlo = c.cmd("EHLO client.test")
        assert ehlo.code == 250 and len(ehlo.lines) > 1, f"first reply inside TLS: {ehlo}"
        r = c.cmd("RCPT TO:<b@example.net>")
        assert r.code == 503, f"MAIL FROM from before the handshake was executed: {r}"
