"""Prometheus metrics on `metrics_listen`: GET /metrics, scraped with urllib
after real traffic, and the values checked — accepted messages, connections,
refused recipients and connections, delivered / deferred / bounced
recipients, the delivery delay histogram, and the sub-queue gauges."""

import re
import urllib.error
import urllib.request

import pytest

import mp
import sinks
from sinks import make_sink  # noqa: F401  (fixture)

SAMPLE = re.compile(r"^(mailproc_[a-z_]+)(\{[^}]*\})? (\S+)$")


def metrics_daemon(make_daemon, conf=None):
    conf = dict(conf or {})
    for attempt in range(5):
        port = mp.free_port()
        conf["metrics_listen"] = f"127.0.0.1:{port}"
        try:
            d = make_daemon(conf)
        except mp.HarnessError:
            if attempt == 4:
                raise
            continue  # the port was taken meanwhile
        d.metrics_url = f"http://127.0.0.1:{port}/metrics"
        return d
    raise AssertionError("unreachable")


def fetch(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=mp.timeout(10)) as r:
        return r.status, dict(r.headers), r.read().decode()


def scrape(d) -> dict:
    """{ 'name' or 'name{labels}': float } of one scrape; checks the format."""
    status, headers, text = fetch(d.metrics_url)
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, f"sample without # TYPE: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def queues(sample: dict) -> dict:
    return {k[len('mailproc_queue_messages{queue="'):-2]: v for k, v in sample.items()
            if k.startswith("mailproc_queue_messages{")}


def wait_metric(d, name, want, limit=15.0):
    return mp.wait_until(lambda: (lambda s: s if s.get(name) == want else None)(scrape(d)),
                         limit, what=f"{name} == {want}")


def test_counts_after_n_messages(make_daemon):
    n = 3
    d = metrics_daemon(make_daemon)
    before = scrape(d)
    assert before["mailproc_messages_accepted_total"] == 0
    # The harness's start-up probe is the one connection so far.
    assert before["mailproc_smtpd_connections_total"] == 1
    assert set(queues(before)) == set(mp.SUBQUEUES), before
    ids = []
    for i in range(n):
        with d.session() as c:
            _, final = c.send_message("a@example.com", [f"r{i}@example.net"], mp.build_message(f"m{i}"))
            assert final.code == 250, final
            ids.append(final.queue_id)
            if i == 0:  # while this session is open
                assert scrape(d)["mailproc_smtpd_connections"] == 1
    # relayhost refuses connections: every message is tried once, then waits in deferred/.
    s = mp.wait_until(lambda: (lambda s: s if queues(s)["deferred"] == n else None)(scrape(d)),
                      15, what=f"{n} messages in deferred")
    assert s["mailproc_messages_accepted_total"] == n
    assert s["mailproc_smtpd_connections_total"] == 1 + n
    assert s["mailproc_recipients_deferred_total"] == n
    assert s["mailproc_recipients_delivered_total"] == 0
    assert s["mailproc_delivery_delay_seconds_count"] == 0
    q = queues(s)
    assert q == {"incoming": 0, "active": 0, "deferred": n, "hold": 0, "archive": 0, "corrupt": 0}, q
    assert set(mp.queued_ids(d.spool, ("deferred",))) == set(ids)
    wait_metric(d, "mailproc_smtpd_connections", 0)


def test_delivered_and_latency(make_daemon, make_sink):
    sink = make_sink("relay")
    d = metrics_daemon(make_daemon, {**sinks.FAST, "relayhost": sink.hostport})
    for i in range(2):
        qid = sinks.send(d, "a@example.com", [f"x{i}@example.net", f"y{i}@example.net"],
                         sinks.message(f"deliver {i}"))
        sinks.wait_removed(d, qid)
    s = wait_metric(d, "mailproc_recipients_delivered_total", 4)
    assert s["mailproc_messages_accepted_total"] == 2
    assert s["mailproc_delivery_delay_seconds_count"] == 4
    assert s['mailproc_delivery_delay_seconds_bucket{le="+Inf"}'] == 4
    assert s['mailproc_delivery_delay_seconds_bucket{le="86400"}'] == 4
    assert 0 <= s["mailproc_delivery_delay_seconds_sum"] < 4 * 60
    buckets = [v for k, v in s.items() if k.startswith("mailproc_delivery_delay_seconds_bucket")]
    assert buckets == sorted(buckets), s  # cumulative
    assert s["mailproc_recipients_deferred_total"] == 0
    assert s["mailproc_recipients_bounced_total"] == 0
    assert sum(queues(s).values()) == 0


def test_bounced(make_daemon, make_sink):
    sink = make_sink("relay")
    sink.set_rcpt_reply("gone@example.net", "550 5.1.1 no such user")
    d = metrics_daemon(make_daemon, {**sinks.FAST, "relayhost": sink.hostport})
    qid = sinks.send(d, "a@example.com", ["gone@example.net", "ok@example.net"], sinks.message("bounce"))
    sinks.wait_removed(d, qid)
    # The NDR goes to a@example.com through the same sink: one more delivery.
    s = wait_metric(d, "mailproc_recipients_delivered_total", 2)
    assert s["mailproc_recipients_bounced_total"] == 1
    assert s["mailproc_delivery_delay_seconds_count"] == 2


def test_refusals(make_daemon):
    d = metrics_daemon(make_daemon, {"mynetworks": "127.0.0.1/32", "max_connections_per_ip": 1})
    with d.session(source="127.0.0.2") as c:
        assert c.cmd("MAIL FROM:<a@outside.test>").code == 250
        assert c.cmd("RCPT TO:<u1@other.net>").code == 554
        assert c.cmd("RCPT TO:<u2@other.net>").code == 554
        with d.client(source="127.0.0.2") as second:  # over max_connections_per_ip
            assert second.reply().code == 421
    s = scrape(d)
    assert s["mailproc_smtpd_recipients_rejected_total"] == 2
    assert s["mailproc_smtpd_connections_refused_total"] == 1
    assert s["mailproc_smtpd_connections_total"] == 3  # probe, session, refused
    assert s["mailproc_messages_accepted_total"] == 0


def test_http_surface(make_daemon):
    d = metrics_daemon(make_daemon)
    base = d.metrics_url[: -len("/metrics")]
    for path in ("/", "/metrics/x", "/favicon.ico"):
        with pytest.raises(urllib.error.HTTPError) as e:
            fetch(base + path)
        assert e.value.code == 404, path
    with pytest.raises(urllib.error.HTTPError) as e:
        fetch(d.metrics_url, method="POST")
    assert e.value.code == 405
    status, headers, body = fetch(d.metrics_url, method="HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 0
    status, _, body = fetch(d.metrics_url + "?name=x")
    assert status == 200 and "mailproc_messages_accepted_total 0\n" in body
    assert "metrics on http://127.0.0.1:" in d.log_text()
