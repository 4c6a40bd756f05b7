"""Routing end to end: the transport file (every key type, first match wins,
`$variables` in next hops) sends each recipient to its own sink, maildir or
pipe; the rewrite file changes envelope addresses (and, with
rewrite_headers = yes, From:/To:/Cc:) before routing, as seen at the sink."""

import json
import mailbox
import re
import signal

import mp
import sinks
from sinks import make_sink  # noqa: F401  (fixture)

PIPE_SCRIPT = """#!/usr/bin/python3
import json, os, sys, time
data = sys.stdin.buffer.read()
rec = {"argv": sys.argv, "uid": os.getuid(), "stdin": data.decode("utf-8", "surrogateescape")}
name = os.path.join(%(out)r, "%%d.%%d" %% (time.time_ns(), os.getpid()))
with open(name + ".tmp", "w") as f:
    json.dump(rec, f)
os.rename(name + ".tmp", name + ".json")
"""


def pipe_records(out):
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


class Routed:
    """Three recording sinks, a maildir root and a recording pipe behind this
    transport file (line numbers matter: `route` reports them)."""

    def __init__(self, workdir, make_sink, make_daemon):
        self.a, self.b, self.c = make_sink("a"), make_sink("b"), make_sink("c")
        self.maildirs = sinks.owned_by_runner(workdir / "maildirs")
        self.out = sinks.writable_dir(workdir / "pipe-out")
        self.script = sinks.make_script(workdir / "bin", "record", PIPE_SCRIPT % {"out": str(self.out)})
        self.variables = sinks.write_map(workdir / "variables", [
            "lo 127.0.0.1",
            f"relay_b ${{lo}}:{self.b.port}",
            f"catchall $lo:{self.c.port}",
        ])
        self.transport = sinks.write_map(workdir / "transport", [
            "# routing test",                                          # 1
            f"boss@example.org        127.0.0.1:{self.a.port}",         # 2 one address
            f"example.org             maildir:{self.maildirs}/%l/Maildir",  # 3 the domain
            "*.example.org           $relay_b",                          # 4 its subdomains
            f"/.*@spl-[0-9]{{6}}\\.foo\\.bar/  |{self.script} %r",       # 5 regex
            "/.*@.*\\.example\\.org/   error:5.1.1 shadowed by line 4",  # 6 never reached
            "*                       $catchall",                        # 7 everything else
        ])
        self.users = sinks.write_map(workdir / "users", [f"root {sinks.RUN_AS}", f"alice {sinks.RUN_AS}"])
        self.dead = mp.ClosedPort()
        conf = dict(sinks.FAST, transport=self.transport, variables=self.variables, users=self.users,
                    relayhost=f"127.0.0.1:{self.dead.port}")
        self.d = make_daemon(conf, start=False)
        self.d.write_conf()

    def close(self):
        self.dead.close()


def test_route_dry_run_names_rule_and_next_hop(workdir, make_sink, make_daemon):
    r = Routed(workdir, make_sink, make_daemon)
    try:
        addrs = ["boss@example.org", "BOSS@Example.ORG", "alice@example.org", "x@a.example.org",
                 "y@deep.b.example.org", "u@spl-123456.foo.bar", "u@spl-12345.foo.bar", "z@else.net"]
        p = r.d.tool("mailprocd", "route", *addrs)
        assert p.returncode == 0, mp.out(p)
        lines = p.stdout.decode().strip().splitlines()
        assert len(lines) == len(addrs), lines
        t = str(r.transport)
        expect = [
            (2, f"127.0.0.1:{r.a.port}"),
            (2, f"127.0.0.1:{r.a.port}"),
            (3, f"maildir:{r.maildirs}/%l/Maildir"),
            (4, f"127.0.0.1:{r.b.port}"),
            (4, f"127.0.0.1:{r.b.port}"),
            (5, f"|{r.script} %r"),
            (7, f"127.0.0.1:{r.c.port}"),
            (7, f"127.0.0.1:{r.c.port}"),
        ]
        for addr, line, (rule, hop) in zip(addrs, lines, expect):
            assert line.startswith(addr + " ->"), line
            assert f"rule={t}:{rule} " in line, (addr, line)
            assert f"nexthop={hop}" in line or f'nexthop="{hop}"' in line, (addr, hop, line)
        assert f"user={sinks.RUN_AS}" in lines[2], lines[2]
        assert not r.d.spool.exists() or r.d.queued_ids() == set()
    finally:
        r.close()


def test_each_destination_form_reaches_its_next_hop(workdir, make_sink, make_daemon):
    r = Routed(workdir, make_sink, make_daemon)
    try:
        r.d.start()
        rcpts = {
            "boss@example.org": "a",  # address line 2 wins over the domain line 3
            "alice@example.org": "maildir",
            "x@a.example.org": "b",  # *.example.org wins over the regex error line 6
            "y@deep.b.example.org": "b",
            "u@spl-123456.foo.bar": "pipe",
            "u@spl-12345.foo.bar": "c",  # regex is anchored: 5 digits do not match
            "z@else.net": "c",
            "w@example.org.else.net": "c",
        }
        content = sinks.message("routing", b"routed body\r\n", "sender@example.com", "list@example.org")
        qid = sinks.send(r.d, "sender@example.com", list(rcpts), content)
        sinks.wait_removed(r.d, qid)

        for name, sink in (("a", r.a), ("b", r.b), ("c", r.c)):
            want = sorted(k for k, v in rcpts.items() if v == name)
            got = sorted(a for t in sink.delivered() for a in t.accepted)
            assert got == want, (name, got, want)
            for t in sink.delivered():
                assert mp.split_received(t.data)[1] == content
        md = mailbox.Maildir(str(r.maildirs / "alice" / "Maildir"), factory=None, create=False)
        assert len(md) == 1, list(r.maildirs.rglob("*"))
        recs = pipe_records(r.out)
        assert len(recs) == 1 and recs[0]["argv"][1:] == ["u@spl-123456.foo.bar"], recs
        for e in sinks.deliveries(r.d, qid):
            assert e.status == "sent", e.line
        assert "error" not in {e.relay for e in sinks.deliveries(r.d, qid)}
    finally:
        r.close()


def test_first_match_wins_even_for_catch_all(workdir, make_sink, make_daemon):
    a, b = make_sink("a"), make_sink("b")
    transport = sinks.write_map(workdir / "transport", [
        f"*              127.0.0.1:{a.port}",
        f"example.org    127.0.0.1:{b.port}",
        f"x@example.org  127.0.0.1:{b.port}",
    ])
    d = make_daemon(dict(sinks.FAST, transport=transport))
    qid = sinks.send(d, "s@example.com", ["x@example.org", "y@example.org"], sinks.message("first"))
    sinks.wait_removed(d, qid)
    assert sorted(x for t in a.delivered() for x in t.accepted) == ["x@example.org", "y@example.org"]
    assert b.delivered() == [] and b.connections == 0


def test_variable_list_as_next_hop_round_robin(workdir, make_sink, make_daemon):
    a, b = make_sink("a"), make_sink("b")
    variables = sinks.write_map(workdir / "variables", [
        f"first 127.0.0.1:{a.port}",
        f"second 127.0.0.1:{b.port}",
        "both $first, ${second}",
    ])
    transport = sinks.write_map(workdir / "transport", ["/.*@(.+\\.)?corp\\.test/  $both"])
    d = make_daemon(dict(sinks.FAST, transport=transport, variables=variables))
    for n in range(4):
        qid = sinks.send(d, "s@example.com", [f"u{n}@x{n}.corp.test"], sinks.message(f"var {n}"))
        sinks.wait_removed(d, qid)
    assert len(a.delivered()) == 2 and len(b.delivered()) == 2, (len(a.delivered()), len(b.delivered()))


# ---------------------------------------------------------------- rewriting

REWRITE = [
    "from  *.srv.test                     srv.test",
    "to    old.test                       new.test",
    "both  /(www|web)[0-9]*\\.corp\\.test/  corp.test",
]


def rewrite_setup(workdir, make_sink, make_daemon, **extra):
    a, b = make_sink("a"), make_sink("b")
    rewrite = sinks.write_map(workdir / "rewrite", REWRITE)
    # Routing sees the rewritten recipient: new.test has its own next hop.
    transport = sinks.write_map(workdir / "transport", [f"new.test 127.0.0.1:{b.port}"])
    d = make_daemon(dict(sinks.FAST, rewrite=rewrite, transport=transport, relayhost=a.hostport, **extra))
    return d, a, b


def test_rewrite_envelope_from_to_and_both(workdir, make_sink, make_daemon):
    d, a, b = rewrite_setup(workdir, make_sink, make_daemon)
    content = sinks.message("rewrite", b"body y@old.test\r\n", "x@a.srv.test", "y@old.test")
    q1 = sinks.send(d, "x@a.srv.test", ["y@old.test", "z@sub.old.test"], content)
    q2 = sinks.send(d, "u@web7.corp.test", ["v@www12.corp.test", "w@corp.test"], content)
    q3 = sinks.send(d, "x@srv.test", ["y@new.test"], content)
    for q in (q1, q2, q3):
        sinks.wait_removed(d, q)

    env_b = sorted((t.sender, tuple(t.accepted)) for t in b.delivered())
    env_a = sorted((t.sender, tuple(sorted(t.accepted))) for t in a.delivered())
    assert env_b == [("x@srv.test", ("y@new.test",)), ("x@srv.test", ("y@new.test",))], env_b
    assert env_a == [("u@corp.test", ("v@corp.test", "w@corp.test")),
                     ("x@srv.test", ("z@sub.old.test",))], env_a
    # rewrite_headers = no: the content is untouched.
    for t in a.delivered() + b.delivered():
        assert mp.split_received(t.data)[1] == content
    # The log names the rewritten recipient and the original one.
    e = [x for x in sinks.deliveries(d, q1) if x.to == "y@new.test"]
    assert len(e) == 1 and e[0].orig_to == "y@old.test", [x.line for x in sinks.deliveries(d, q1)]


def test_rewrite_headers_from_to_cc(workdir, make_sink, make_daemon):
    d, a, b = rewrite_setup(workdir, make_sink, make_daemon, rewrite_headers=True)
    head = (
        b"From: Alice Example <x@a.srv.test>\r\n"
        b"To: y@old.test, \"Zed\" <z@other.test>\r\n"
        b"Cc: \"V\" <v@www1.corp.test>,\r\n other@else.test\r\n"
        b"Reply-To: <r@web3.corp.test>\r\n"
        b"Subject: headers y@old.test x@a.srv.test\r\n"
        b"X-Keep: y@old.test\r\n"
        b"Message-ID: <hdr.1@a.srv.test>\r\n"
    )
    body = b"\r\nbody mentions y@old.test and x@a.srv.test\r\n"
    qid = sinks.send(d, "x@a.srv.test", ["y@old.test"], head + body)
    sinks.wait_removed(d, qid)
    got = b.delivered()
    assert len(got) == 1 and a.delivered() == [], ([t.accepted for t in got], len(a.delivered()))
    t = got[0]
    assert (t.sender, t.accepted) == ("x@srv.test", ["y@new.test"])
    rest = mp.split_received(t.data)[1]
    m = t.message
    assert "x@srv.test" in m["From"] and "a.srv.test" not in m["From"], m["From"]
    assert "y@new.test" in m["To"] and "old.test" not in m["To"] and "z@other.test" in m["To"], m["To"]
    cc = " ".join(m["Cc"].split())
    assert "v@corp.test" in cc and "www1" not in cc and "other@else.test" in cc, m["Cc"]
    assert "r@corp.test" in m["Reply-To"] and "web3" not in m["Reply-To"], m["Reply-To"]
    # Other headers and the body are left alone.
    assert m["Subject"] == "headers y@old.test x@a.srv.test" and m["X-Keep"] == "y@old.test"
    assert m["Message-ID"] == "<hdr.1@a.srv.test>"
    assert rest.endswith(body), rest[-200:]
    assert re.search(rb"(?m)^From: Alice Example <x@srv.test>\r$", rest), rest[:400]


def test_discard_and_error_routes(workdir, make_sink, make_daemon):
    sink = make_sink("relay")
    transport = sinks.write_map(workdir / "transport", [
        "trash.test     discard",
        "nomail.test    error:5.1.1 This domain has no mailboxes",
    ])
    d = make_daemon(dict(sinks.FAST, transport=transport, relayhost=sink.hostport))
    with d.session() as c:
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        r = c.cmd("RCPT TO:<x@nomail.test>")
        assert r.code == 550 and r.enhanced == "5.1.1" and "This domain has no mailboxes" in r.text, r
    qid = sinks.send(d, "s@example.com", ["x@trash.test", "y@other.test"], sinks.message("half discarded"))
    sinks.wait_removed(d, qid)
    lines = {e.to: e for e in sinks.deliveries(d, qid)}
    trash = lines["x@trash.test"]
    assert trash.status == "sent" and trash.relay == "none" and "discard" in trash.text.lower(), trash.line
    assert [t.accepted for t in sink.delivered()] == [["y@other.test"]]


def test_deferred_mail_is_rerouted_after_a_transport_edit(workdir, make_sink, make_daemon):
    sink = make_sink("new-hop")
    hole = mp.ClosedPort()
    try:
        transport = sinks.write_map(workdir / "transport", [f"dest.test 127.0.0.1:{hole.port}"])
        d = make_daemon(dict(sinks.FAST, transport=transport))
        qid = sinks.send(d, "s@example.com", ["r@dest.test"], sinks.message("reroute"))
        sinks.wait_status(d, qid, "deferred")
        # The operator points dest.test elsewhere and reloads: the next attempt
        # routes the pending recipient again and uses the new next hop.
        sinks.write_map(workdir / "transport", [f"dest.test {sink.hostport}"])
        d.proc.send_signal(signal.SIGHUP)
        sinks.wait_removed(d, qid, limit=20)
    finally:
        hole.close()
    (t,) = sink.delivered()
    assert t.accepted == ["r@dest.test"]
    assert sinks.deliveries(d, qid)[-1].relay.endswith(f":{sink.port}")
