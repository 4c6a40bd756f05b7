"""Issue 9, item 2: delivery reasons worded the Postfix way, end to end.

A next hop that refuses the connection, and a real next hop (Postfix's smtp-sink)
answering 450 or 5xx at RCPT: the status= log line, `mpqueue -p` (the reason in
parentheses), `mpqueue -j` (delay_reason) and, for a 5xx, the NDR's human-readable
part and Diagnostic-Code show Postfix's texts, with no reply code of mailproc's
own invention in front (no "451 4.4.1 connect to ...")."""

import json

import mp
import sinks
from sinks import make_postfix_sink, make_sink  # noqa: F401  (fixtures)


def listing_shows(d, text):
    """Polls `mpqueue -p` until it shows "(text)"; returns the listing."""
    def shown():
        p = d.tool("mpqueue", "-p")
        listing = mp.out(p)
        return listing if f"({text})" in listing else None
    return mp.wait_until(shown, 15, what=f"'({text})' in mpqueue -p")


def json_reason(d, qid):
    def reason():
        p = d.tool("mpqueue", "-j")
        for line in p.stdout.decode().splitlines():
            obj = json.loads(line)
            if obj["queue_id"] == qid and obj["recipients"][0].get("delay_reason"):
                return obj["recipients"][0]["delay_reason"]
        return None
    return mp.wait_until(reason, 15, what=f"a delay_reason for {qid} in mpqueue -j")


def test_refused_connection_is_worded_as_postfix(make_daemon):
    hole = mp.ClosedPort()
    try:
        d = make_daemon(dict(sinks.FAST, relayhost=f"127.0.0.1:{hole.port}"))
        qid = sinks.send(d, "s@example.com", ["r@example.net"], sinks.message("refused"))
        (e,) = sinks.wait_status(d, qid, "deferred")[:1]
        want = f"connect to 127.0.0.1[127.0.0.1]:{hole.port}: Connection refused"
        assert e.text == want, e.line
        assert e.dsn == "4.4.1", e.line
        assert f"status=deferred ({want})" in e.line, e.line
        listing = listing_shows(d, want)
        assert "451" not in listing, listing
        assert json_reason(d, qid) == want
    finally:
        hole.close()


def test_450_at_rcpt_from_a_real_next_hop(make_daemon, make_postfix_sink):
    sink = make_postfix_sink("soft", extra_args=["-r", "RCPT"])  # 450 4.3.0 to every RCPT
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport))
    qid = sinks.send(d, "s@example.com", ["r@example.net"], sinks.message("greylisted"))
    (e,) = sinks.wait_status(d, qid, "deferred")[:1]
    want = ("host 127.0.0.1[127.0.0.1] said: 450 4.3.0 Error: command failed "
            "(in reply to RCPT TO command)")
    assert e.text == want and e.dsn == "4.3.0", e.line
    assert e.relay == f"127.0.0.1[127.0.0.1]:{sink.port}", e.line
    listing = listing_shows(d, want)
    rows = [row.strip() for row in listing.splitlines()]
    at = rows.index(f"({want})")
    assert at > 0 and rows[at - 1].startswith(qid) and rows[at + 1].strip() == "r@example.net", listing
    assert json_reason(d, qid) == want


def test_5xx_at_rcpt_reaches_the_ndr_in_postfix_words(make_daemon, make_sink, make_postfix_sink):
    hard = make_postfix_sink("hard", extra_args=["-f", "RCPT"])  # 5xx to every RCPT
    home = make_sink("home")  # the sender's domain: where the NDR goes
    d = make_daemon(dict(sinks.FAST, relayhost=home.hostport), start=False)
    d.conf["transport"] = str(sinks.write_map(d.dir / "transport", [f"bad.test {hard.hostport}"]))
    d.start()
    qid = sinks.send(d, "a@live.test", ["x@bad.test"], sinks.message("bounce", to="x@bad.test"))
    (e,) = sinks.wait_status(d, qid, "bounced")
    remote = e.text.split(" said: ", 1)[-1].rsplit(" (in reply to ", 1)[0]
    want = f"host 127.0.0.1[127.0.0.1] said: {remote} (in reply to RCPT TO command)"
    assert remote.startswith("5") and e.text == want, e.line
    (ndr,) = home.wait_delivered(1)
    assert ndr.sender == "" and ndr.accepted == ["a@live.test"]
    msg, _, rcpts = sinks.parse_report(ndr.data)
    (r,) = rcpts
    assert r["Diagnostic-Code"].startswith("smtp;"), r.items()
    assert sinks.field_value(r, "Diagnostic-Code") == remote, r.items()
    human = msg.get_payload()[0].get_payload(decode=True).decode()
    assert f"<x@bad.test>: {want}" in human, human
