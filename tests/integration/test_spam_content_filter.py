"""mailproc as Postfix's content filter (the amavisd-new pattern of Postfix's
FILTER_README, doc/content-filter.md), end to end with a real Postfix and a real
spamd: Postfix's smtpd takes the mail and hands it over LMTP to mailproc's
`lmtp:` listener (content_filter); mailproc's `spam:` stage scans it and relays
it, marked, to Postfix's re-injection smtpd; Postfix's virtual(8) delivers it to
the maildir. A forged X-Spam-Flag on the way in does not survive. Root only
(a private Postfix instance)."""

from __future__ import annotations

import email
import email.policy
import re
import smtplib

import pytest

import mp
import sinks
import spamd as sd

DOMAIN = "dest.test"


def submit(port: int, sender: str, rcpts, content: bytes) -> None:
    """One message to Postfix's front door; every recipient must be accepted."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=mp.timeout(15)) as s:
        assert not s.sendmail(sender, list(rcpts), content)


@pytest.fixture
def spamd(workdir):
    s = sd.Spamd(workdir / "spamd", rules="gtube")
    try:
        yield s.start()
    finally:
        s.stop()


def test_postfix_content_filter_round_trip(workdir, make_daemon, spamd):
    if not sinks.IS_ROOT:
        pytest.skip("a private Postfix instance needs root")
    d = make_daemon(start=False, listeners=(("smtp", "127.0.0.1"), ("lmtp", "127.0.0.1")), conf={})
    _host, lmtp_port = d.addr("lmtp")
    pf = sd.FilterPostfix(workdir / "postfix", lmtp_port, DOMAIN, ["alice", "bob"])
    try:
        pf.start()
        transport = sinks.write_map(workdir / "transport", [f"{DOMAIN} spam:127.0.0.1:{pf.reinject_port}"])
        d.conf.update(sinks.FAST, transport=transport, spamd=spamd.endpoint)
        d.start()

        spam = sinks.message("filtered spam", f"{sd.GTUBE}\r\n".encode(), "s@example.com", f"alice@{DOMAIN}",
                             b"X-Spam-Flag: NO\r\n")
        ham = sinks.message("filtered ham", b"Hello Bob, see you at four.\r\n", "s@example.com", f"bob@{DOMAIN}")
        submit(pf.port, "s@example.com", [f"alice@{DOMAIN}"], spam)
        submit(pf.port, "s@example.com", [f"bob@{DOMAIN}"], ham)

        mp.wait_until(lambda: len(pf.maildir_new("alice")) == 1 and len(pf.maildir_new("bob")) == 1, 60,
                      what="both messages in Postfix's virtual maildirs")
        mp.wait_until(lambda: pf.queue_count() == 0, 30, what="Postfix's queue to drain")
        sinks.wait_queue_empty(d, limit=30)

        a = email.message_from_bytes(pf.maildir_new("alice")[0].read_bytes(), policy=email.policy.compat32)
        b = email.message_from_bytes(pf.maildir_new("bob")[0].read_bytes(), policy=email.policy.compat32)
        assert a.get_all("X-Spam-Flag") == ["YES"], a.items()
        assert " ".join(a["X-Spam-Status"].split()).startswith("Yes, score=1000.0 required=5.0 tests=GTUBE")
        assert b.get_all("X-Spam-Flag") == ["NO"], b.items()
        assert a["Subject"] == "filtered spam" and b["Subject"] == "filtered ham"
        # The path, newest first: Postfix re-injection <- mailproc <- Postfix front door.
        received = [" ".join(r.split()) for r in a.get_all("Received")]
        assert len(received) == 3, received
        assert f"by postfix.test" in received[0] and "mx.test" in received[0], received[0]
        assert "by mx.test" in received[1] and "LMTP" in received[1].upper(), received[1]
        assert "by postfix.test" in received[2], received[2]

        log = pf.log_text()
        # Postfix handed both over LMTP to mailproc...
        assert len(re.findall(rf"postfix/lmtp\[\d+\]: \w+: to=<\w+@{DOMAIN}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lmtp_port},"
                              r".* status=sent", log)) == 2, log
        # ...and delivered what came back.
        assert len(re.findall(rf"postfix/virtual\[\d+\]: \w+: to=<\w+@{DOMAIN}>, relay=virtual,.* status=sent", log)) == 2, log
        # mailproc scanned each once and relayed it to the re-injection port.
        scans = sd.spam_lines(d)
        assert sorted(m["result"] for m in scans) == ["ham", "spam"], [m.group(0) for m in scans]
        relayed = [e for e in sinks.deliveries(d) if e.status == "sent"]
        assert len(relayed) == 2 and all(f":{pf.reinject_port}" in e.relay for e in relayed), [e.line for e in relayed]
    finally:
        pf.stop()
