"""The log file is pflogsumm-compatible (SPEC: Logs): Debian's pflogsumm run
with --syslog-name=mailprocd on the daemon's `log = FILE` reports exactly the
received / delivered / deferred / bounced counts of what the test did: mail
received over SMTP and through mpsendmail, delivered to the relayhost (the
recording sink), deferred (the sink answers 451 for one recipient), bounced
(550 for another; the NDR that follows is one more delivery)."""

import re
import shutil

import pytest

import mp
import sinks
from sinks import make_sink  # noqa: F401  (fixture)

PFLOGSUMM = "/usr/sbin/pflogsumm"

COUNT_RE = re.compile(r"^\s*(\d+)([kmg]?)\s+(received|delivered|deferred|bounced)\b", re.M)


def pflogsumm_counts(logfile) -> dict:
    mp.require_tool(PFLOGSUMM, "pflogsumm")
    r = mp.run([PFLOGSUMM, "--syslog-name=mailprocd", str(logfile)], limit=60)
    assert r.returncode == 0, mp.out(r)
    text = r.stdout.decode("utf-8", "replace")
    counts = {}
    for m in COUNT_RE.finditer(text.split("Per-Hour", 1)[0]):
        assert not m.group(2), f"unexpected unit suffix in {m.group(0)!r}"
        counts.setdefault(m.group(3), int(m.group(1)))  # the first block: message counts
    return counts, text


@pytest.mark.skipif(shutil.which("pflogsumm") is None and not mp.Path(PFLOGSUMM).exists(),
                    reason="pflogsumm not installed (.ci/install-deps installs it)")
def test_pflogsumm_counts_received_delivered_deferred_bounced(workdir, make_daemon, make_sink):
    sink = make_sink("relay")
    sink.set_rcpt_reply("later@example.net", "451 4.3.0 mailbox busy, try later")
    sink.set_rcpt_reply("nosuch@example.net", "550 5.1.1 no such user")
    logfile = workdir / "maillog"
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport, log=str(logfile)))

    delivered_ids = []
    for n in range(3):
        rcpt = f"user{n}@example.net"
        delivered_ids.append(sinks.send(d, "alice@example.com", [rcpt],
                                        sinks.message(f"ok {n}", sender="alice@example.com", to=rcpt)))
    deferred_id = sinks.send(d, "alice@example.com", ["later@example.net"],
                             sinks.message("deferred", sender="alice@example.com", to="later@example.net"))
    bounced_id = sinks.send(d, "alice@example.com", ["nosuch@example.net"],
                            sinks.message("bounced", sender="alice@example.com", to="nosuch@example.net"))
    # Local submission: counted as received through its "pickup" line.
    r = mp.run([str(mp.program("mpsendmail")), "-C", str(d.conf_path), "-v", "-f", "cron@example.com",
                "user9@example.net"], input=b"Subject: from cron\n\nnightly report\n", limit=30)
    assert r.returncode == 0, mp.out(r)
    local_id = re.search(r"queued as ([0-9A-Z]+)", mp.out(r)).group(1)
    delivered_ids.append(local_id)

    log = LogFile(logfile)
    for qid in delivered_ids:
        sinks.wait_status(log, qid, "sent")
    sinks.wait_status(log, bounced_id, "bounced")
    sinks.wait_status(log, deferred_id, "deferred")
    # The NDR for the bounce goes to alice through the relayhost: one more delivery.
    ndr = mp.wait_until(lambda: sinks.ndr_ids(log, bounced_id), 15, what="the NDR's queue ID")
    sinks.wait_status(log, ndr[0], "sent")
    d.stop()

    text = logfile.read_text()
    assert "mailprocd/pickup[" in text and f"{local_id}: uid=" in text, text[-2000:]
    counts, report = pflogsumm_counts(logfile)
    expected = {"received": 6, "delivered": 5, "deferred": 1, "bounced": 1}
    assert counts == expected, f"pflogsumm says {counts}, expected {expected}\n{report[:1500]}\nlog:\n{text[-3000:]}"


class LogFile:
    """For the sinks.* log helpers, which read d.log_text(): the lines of `log = FILE`."""

    def __init__(self, path):
        self.path = path

    def log_text(self) -> str:
        try:
            return self.path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@pytest.mark.skipif(shutil.which("pflogsumm") is None and not mp.Path(PFLOGSUMM).exists(),
                    reason="pflogsumm not installed (.ci/install-deps installs it)")
def test_pflogsumm_counts_the_refused_recipients_as_rejected(workdir, make_daemon):
    logfile = workdir / "maillog"
    d = make_daemon({"mynetworks": "127.0.0.1/32", "relay_domains": "example.org", "log": str(logfile)})
    refused = ["a@other.net", "b@other.net", "c@elsewhere.test"]
    with d.session(source="127.0.0.2") as c:
        assert c.cmd("MAIL FROM:<probe@outside.test>").code == 250
        for rcpt in refused:
            assert c.cmd(f"RCPT TO:<{rcpt}>").code == 554
        assert c.cmd("RCPT TO:<ok@example.org>").code == 250
        assert c.cmd("QUIT").code == 221
    log = LogFile(logfile)
    mp.wait_until(lambda: "disconnect from unknown[127.0.0.2]" in log.log_text(), 10,
                  what="the disconnect line")
    d.stop()
    mp.require_tool(PFLOGSUMM, "pflogsumm")
    r = mp.run([PFLOGSUMM, "--syslog-name=mailprocd", str(logfile)], limit=60)
    assert r.returncode == 0, mp.out(r)
    report = r.stdout.decode("utf-8", "replace")
    m = re.search(r"^\s*(\d+)\s+rejected\b", report, re.M)
    assert m and int(m.group(1)) == len(refused), f"{report[:2000]}\nlog:\n{logfile.read_text()}"
    assert "Relay access denied" in report, report
