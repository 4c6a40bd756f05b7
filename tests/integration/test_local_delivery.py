"""Local delivery end to end: maildir (checked with mailbox.Maildir), the
users map (regex entries, unknown users refused at RCPT with 550 5.1.1),
pipes (exit 0 / 75 / other -> sent / deferred and retried / bounced with an
NDR carrying the program's first stderr line), real maildrop and procmail as
MDAs for a unix user made by the test (root only), and hostile local parts
that must never escape the maildir nor reach a shell."""

import json
import mailbox
import os
import pwd

import pytest

import mp
import sinks
from sinks import make_sink  # noqa: F401  (fixture)

# Records one run (argv, uid, cwd, stdin) into OUT, then exits with the code
# that OUT/codes.json gives for the value after "--local" (default 0), first
# writing two lines to stderr when that code is not 0.
PIPE_SCRIPT = """#!/usr/bin/python3
import json, os, sys, time
OUT = %(out)r
data = sys.stdin.buffer.read()
local = sys.argv[sys.argv.index("--local") + 1] if "--local" in sys.argv else ""
rec = {"argv": sys.argv, "uid": os.getuid(), "cwd": os.getcwd(),
       "stdin": data.decode("utf-8", "surrogateescape")}
name = os.path.join(OUT, "%%d.%%d" %% (time.time_ns(), os.getpid()))
with open(name + ".tmp", "w") as f:
    json.dump(rec, f)
os.rename(name + ".tmp", name + ".json")
try:
    with open(os.path.join(OUT, "codes.json")) as f:
        code = json.load(f).get(local, 0)
except FileNotFoundError:
    code = 0
if code == "sleep":
    time.sleep(60)
if code == "kill":
    os.kill(os.getpid(), 9)
if code:
    sys.stderr.write("pipe says: mailbox %%s is closed\\nsecond line, never shown\\n" %% local)
sys.exit(code)
"""


def runner_uid():
    return pwd.getpwnam(sinks.RUN_AS).pw_uid if sinks.IS_ROOT else os.getuid()


class Local:
    """local.test -> maildir, pipe.test -> the recording pipe, everything else
    (the NDRs) -> a recording sink as relayhost."""

    def __init__(self, workdir, make_sink, make_daemon, users=(), transport=(), start=True, **conf):
        self.workdir = workdir
        self.sink = make_sink("relay")
        self.maildirs = sinks.owned_by_runner(workdir / "maildirs")
        self.out = sinks.writable_dir(workdir / "pipe-out")
        self.script = sinks.make_script(workdir / "bin", "record", PIPE_SCRIPT % {"out": str(self.out)})
        self.users = sinks.write_map(workdir / "users", [
            f"root {sinks.RUN_AS}",
            f"alice {sinks.RUN_AS}",
            f"/dev[0-9]+/ {sinks.RUN_AS}",
            *users,
        ])
        self.transport = sinks.write_map(workdir / "transport", [
            *transport,
            f"local.test maildir:{self.maildirs}/%l/Maildir",
            f"pipe.test |{self.script} --rcpt %r --local %l --sender %s --id %i --domain %d --user %u",
        ])
        self.d = make_daemon(dict(sinks.FAST, users=self.users, transport=self.transport,
                                  relayhost=self.sink.hostport, **conf), start=start)

    def maildir(self, local):
        return mailbox.Maildir(str(self.maildirs / local / "Maildir"), factory=None, create=False)

    def set_codes(self, codes):
        path = self.out / "codes.json"
        path.write_text(json.dumps(codes))
        path.chmod(0o644)

    def runs(self):
        return [json.loads(p.read_text()) for p in sorted(self.out.glob("*.json")) if p.name != "codes.json"]


def local_copy(sender, rcpt, stored):
    """What a local delivery writes: Return-Path, Delivered-To, then the stored
    content (Received: + message) with LF line ends."""
    return f"Return-Path: <{sender}>\nDelivered-To: {rcpt}\n".encode() + sinks.to_lf(stored)


def single_message(md):
    keys = list(md.keys())
    assert len(keys) == 1, keys
    return md.get_bytes(keys[0])


# ---------------------------------------------------------------- maildir and users


def test_maildir_delivery(workdir, make_sink, make_daemon):
    loc = Local(workdir, make_sink, make_daemon)
    content = sinks.message("to maildir", b"line one\r\n.dot line\r\n\r\nlast\r\n", "s@example.com",
                            "alice@local.test")
    qid = sinks.send(loc.d, "s@example.com", ["alice@local.test"], content)
    sinks.wait_removed(loc.d, qid)

    root = loc.maildirs / "alice" / "Maildir"
    for sub in ("..", ".", "tmp", "new", "cur"):
        assert (root / sub).is_dir(), f"{root / sub} missing"
        assert (root / sub).stat().st_uid == runner_uid(), f"{root / sub} not owned by the user"
    assert list((root / "tmp").iterdir()) == [], "tmp/ keeps a file"
    assert len(list((root / "new").iterdir())) == 1
    data = single_message(loc.maildir("alice"))
    assert data.startswith(b"Return-Path: <s@example.com>\nDelivered-To: alice@local.test\n"), data[:200]
    rest = data.split(b"\n", 2)[2]
    received, msg = mp.split_received(rest)
    assert msg == sinks.to_lf(content), f"body differs:\n{msg!r}\n{sinks.to_lf(content)!r}"
    assert f"id {qid}".encode() in received
    m = loc.maildir("alice").get_message(list(loc.maildir("alice").keys())[0])
    assert m["Return-Path"] == "<s@example.com>" and m["Delivered-To"] == "alice@local.test"
    (e,) = sinks.deliveries(loc.d, qid)
    assert e.status == "sent" and e.to == "alice@local.test", e.line
    assert loc.sink.delivered() == []  # no NDR, nothing relayed


def test_users_regex_entry_and_unknown_user(workdir, make_sink, make_daemon):
    loc = Local(workdir, make_sink, make_daemon)
    with loc.d.session() as c:
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        ok = c.cmd("RCPT TO:<dev42@local.test>")
        unknown = c.cmd("RCPT TO:<devx@local.test>")
        mallory = c.cmd("RCPT TO:<mallory@local.test>")
        assert ok.code == 250, ok
        for r in (unknown, mallory):
            assert r.code == 550 and r.enhanced == "5.1.1", r
        assert c.cmd("DATA").code == 354
        content = sinks.message("regex user")
        c.send(mp.dot_stuff(content) + b".\r\n")
        final = c.reply()
        assert final.code == 250, final
    sinks.wait_removed(loc.d, final.queue_id)
    assert len(loc.maildir("dev42")) == 1
    assert not (loc.maildirs / "devx").exists() and not (loc.maildirs / "mallory").exists()


def test_unknown_local_user_only_recipient_queues_nothing(workdir, make_sink, make_daemon):
    loc = Local(workdir, make_sink, make_daemon)
    with loc.d.session() as c:
        replies, final = c.send_message("s@example.com", ["nobody-here@local.test"], sinks.message("x"))
    assert replies[1].code == 550 and replies[1].enhanced == "5.1.1", replies[1]
    assert final is None
    assert loc.d.queued_ids() == set()


# ---------------------------------------------------------------- pipe


def test_pipe_exit_0_is_sent(workdir, make_sink, make_daemon):
    loc = Local(workdir, make_sink, make_daemon)
    content = sinks.message("to pipe", b"piped\r\n", "s@example.com", "ok@pipe.test")
    qid = sinks.send(loc.d, "s@example.com", ["ok@pipe.test"], content)
    sinks.wait_removed(loc.d, qid)
    (run,) = loc.runs()
    assert run["argv"] == [str(loc.script), "--rcpt", "ok@pipe.test", "--local", "ok",
                           "--sender", "s@example.com", "--id", qid, "--domain", "pipe.test",
                           "--user", "nobody"], run["argv"]
    assert run["uid"] == runner_uid()
    stdin = run["stdin"].encode("utf-8", "surrogateescape")
    assert stdin.startswith(b"Return-Path: <s@example.com>\nDelivered-To: ok@pipe.test\n"), stdin[:200]
    assert mp.split_received(stdin.split(b"\n", 2)[2])[1] == sinks.to_lf(content)
    (e,) = sinks.deliveries(loc.d, qid)
    assert e.status == "sent", e.line


def test_pipe_exit_75_is_deferred_and_retried(workdir, make_sink, make_daemon):
    loc = Local(workdir, make_sink, make_daemon)
    loc.set_codes({"later": 75})
    qid = sinks.send(loc.d, "s@example.com", ["later@pipe.test"], sinks.message("tempfail"))
    deferred = sinks.wait_status(loc.d, qid, "deferred", count=2, limit=20)
    assert all(e.dsn.startswith("4.") for e in deferred), [e.line for e in deferred]
    assert len(loc.runs()) >= 2, "not retried"
    assert qid in loc.d.queued_ids(), "a deferred message left the queue"
    assert sinks.ndr_ids(loc.d, qid) == [] and loc.sink.transactions == [], "an NDR for a tempfail"
    loc.set_codes({})
    sinks.wait_removed(loc.d, qid, limit=20)
    statuses = [e.status for e in sinks.deliveries(loc.d, qid)]
    assert statuses[-1] == "sent" and set(statuses[:-1]) == {"deferred"}, statuses
    assert len(loc.runs()) == len(statuses), (len(loc.runs()), statuses)
    assert loc.sink.transactions == []


@pytest.mark.parametrize("how", ["sleep", "kill"], ids=["timeout", "signal"])
def test_pipe_timeout_or_signal_is_deferred(workdir, make_sink, make_daemon, how):
    loc = Local(workdir, make_sink, make_daemon, pipe_timeout="1s")
    loc.set_codes({"slow": how})
    qid = sinks.send(loc.d, "s@example.com", ["slow@pipe.test"], sinks.message(how))
    (e,) = sinks.wait_status(loc.d, qid, "deferred", limit=20)[:1]
    assert e.dsn.startswith("4."), e.line
    print("deferral reason:", e.text)
    assert qid in loc.d.queued_ids()
    loc.set_codes({})
    sinks.wait_removed(loc.d, qid, limit=20)
    assert [x.status for x in sinks.deliveries(loc.d, qid)][-1] == "sent"
    assert loc.sink.transactions == [], "an NDR for a temporary failure"


def test_pipe_exit_1_bounces_with_ndr(workdir, make_sink, make_daemon):
    loc = Local(workdir, make_sink, make_daemon)
    loc.set_codes({"fail": 1})
    content = sinks.message("permfail", b"will bounce\r\n", "s@example.com", "fail@pipe.test")
    qid = sinks.send(loc.d, "s@example.com", ["fail@pipe.test"], content)
    (e,) = sinks.wait_status(loc.d, qid, "bounced")
    assert e.dsn.startswith("5."), e.line
    assert "mailbox fail is closed" in e.text and "second line" not in e.text, e.line
    sinks.wait_removed(loc.d, qid)
    (ndr,) = loc.sink.wait_delivered(1)
    sinks.wait_queue_empty(loc.d)
    assert len(loc.sink.delivered()) == 1, "more than one NDR"
    assert ndr.sender == "" and ndr.accepted == ["s@example.com"], (ndr.sender, ndr.rcpts)
    msg, per_msg, rcpts = sinks.parse_report(ndr.data)
    assert len(rcpts) == 1, rcpts
    assert sinks.field_value(rcpts[0], "Final-Recipient") == "fail@pipe.test"
    assert sinks.field_value(rcpts[0], "Action") == "failed"
    assert sinks.field_value(rcpts[0], "Status").startswith("5."), rcpts[0]["Status"]
    diag = sinks.field_value(rcpts[0], "Diagnostic-Code")
    assert "mailbox fail is closed" in diag and "second line" not in diag, diag
    assert "MAILER-DAEMON@mx.test" in msg["From"] and "s@example.com" in msg["To"]
    assert sinks.ndr_ids(loc.d, qid) and len(sinks.ndr_ids(loc.d, qid)) == 1


# ---------------------------------------------------------------- real MDAs


@pytest.fixture
def unix_user(workdir):
    if not sinks.IS_ROOT:
        print("SKIP reason: maildrop/procmail tests create a unix user, which needs root")
        pytest.skip("needs root to create a unix user")
    user = sinks.UnixUser(workdir / "home")
    yield user
    user.remove()


def mda_setup(workdir, make_sink, make_daemon, user, hop):
    return Local(workdir, make_sink, make_daemon, users=[f"mdauser {user.name}"],
                 transport=[f"mda.test {hop}"])


def test_maildrop_delivers_into_the_users_maildir(workdir, make_sink, make_daemon, unix_user):
    mp.require_tool("/usr/bin/maildrop", "maildrop")
    md = unix_user.make_maildir()
    # Debian's maildrop delivers to /var/mail/USER unless told otherwise.
    rc = unix_user.home / ".mailfilter"
    rc.write_text('DEFAULT="$HOME/Maildir"\n')
    os.chown(rc, unix_user.uid, unix_user.gid)
    rc.chmod(0o600)
    loc = mda_setup(workdir, make_sink, make_daemon, unix_user, "/usr/bin/maildrop")
    content = sinks.message("maildrop", b"via maildrop\r\n", "s@example.com", "mdauser@mda.test")
    qid = sinks.send(loc.d, "s@example.com", ["mdauser@mda.test"], content)
    sinks.wait_removed(loc.d, qid)
    box = mailbox.Maildir(str(md), factory=None, create=False)
    data = single_message(box)
    assert b"Delivered-To: mdauser@mda.test\n" in data and b"Return-Path: <s@example.com>\n" in data, data[:300]
    assert data.endswith(b"via maildrop\n"), data[-100:]
    assert os.stat(md / "new" / list(box.keys())[0]).st_uid == unix_user.uid
    (e,) = sinks.deliveries(loc.d, qid)
    assert e.status == "sent", e.line


def test_procmail_delivers_into_the_users_mbox(workdir, make_sink, make_daemon, unix_user):
    mp.require_tool("/usr/bin/procmail", "procmail")
    loc = mda_setup(workdir, make_sink, make_daemon, unix_user, "/usr/bin/procmail -d %u")
    content = sinks.message("procmail", b"via procmail\r\n", "s@example.com", "mdauser@mda.test")
    qid = sinks.send(loc.d, "s@example.com", ["mdauser@mda.test"], content)
    sinks.wait_removed(loc.d, qid)
    box = mailbox.mbox(str(unix_user.mail_spool), create=False)
    msgs = list(box)
    assert len(msgs) == 1, len(msgs)
    m = msgs[0]
    assert m["Delivered-To"] == "mdauser@mda.test" and m["Return-Path"] == "<s@example.com>", m.items()
    assert m.get_payload(decode=True).rstrip(b"\n") == b"via procmail", m.get_payload()
    assert unix_user.mail_spool.stat().st_uid == unix_user.uid
    (e,) = sinks.deliveries(loc.d, qid)
    assert e.status == "sent", e.line


# ---------------------------------------------------------------- hostile local parts

# (local part as written in RCPT (quoted when RFC 5321 needs it), unquoted form)
HOSTILE = [
    ('"../x"', "../x"),
    ('"a/b"', "a/b"),
    ('".x"', ".x"),
    ('"$(touch f)"', "$(touch f)"),
    ('";id"', ";id"),
    ("`id`", "`id`"),
    ("|id", "|id"),
    ("-x", "-x"),
]
# SPEC: '/' or a leading '.' never reaches a path or argv: refused at RCPT.
MUST_REFUSE = {"../x", "a/b", ".x"}


def injection_traces(workdir):
    """Files the injections could have made: any 'f' or 'x' outside the expected places."""
    return [p for p in workdir.rglob("*") if p.name in ("f", "x") and p.is_file()]


def send_hostile(loc, domain, written):
    with loc.d.session() as c:
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        r = c.cmd(f"RCPT TO:<{written}@{domain}>")
        if r.code != 250:
            return r, None
        assert c.cmd("DATA").code == 354
        c.send(mp.dot_stuff(sinks.message("hostile")) + b".\r\n")
        final = c.reply()
        assert final.code == 250, final
        return r, final.queue_id


def check_refusal_or_delivery(loc, written, plain, r, qid):
    print(f"RCPT {written!r}: {r}")
    if qid is None:
        assert r.code == 550 and r.enhanced == "5.1.3", f"RCPT {written!r}: {r}"
        return False
    assert plain not in MUST_REFUSE, f"RCPT {written!r} accepted for a local route: {r}"
    sinks.wait_removed(loc.d, qid)
    statuses = [e.status for e in sinks.deliveries(loc.d, qid)]
    assert statuses == ["sent"], (written, [e.line for e in sinks.deliveries(loc.d, qid)])
    return True


@pytest.mark.parametrize("written,plain", HOSTILE, ids=[p for _, p in HOSTILE])
def test_hostile_local_part_to_maildir(workdir, make_sink, make_daemon, written, plain):
    loc = Local(workdir, make_sink, make_daemon, users=[f"/.*/ {sinks.RUN_AS}"])
    r, qid = send_hostile(loc, "local.test", written)
    delivered = check_refusal_or_delivery(loc, written, plain, r, qid)
    # Every message file lies in MAILDIRS/<one segment>/Maildir/new, nowhere else.
    files = [p for p in workdir.rglob("*")
             if p.is_file() and p.parent.name in ("new", "cur", "tmp") and loc.d.dir not in p.parents]
    for p in files:
        rel = p.relative_to(loc.maildirs) if loc.maildirs in p.parents else None
        assert rel is not None and len(rel.parts) == 4 and rel.parts[1] == "Maildir", p
    if delivered:
        assert len(files) == 1, files
        assert files[0].parent.parent.parent.name in (plain, written), files
    else:
        assert files == [], files
    assert not (workdir / "x").exists() and not (loc.maildirs.parent / "x").exists()
    assert injection_traces(workdir) == []


@pytest.mark.parametrize("written,plain", HOSTILE, ids=[p for _, p in HOSTILE])
def test_hostile_local_part_to_pipe(workdir, make_sink, make_daemon, written, plain):
    loc = Local(workdir, make_sink, make_daemon)
    r, qid = send_hostile(loc, "pipe.test", written)
    delivered = check_refusal_or_delivery(loc, written, plain, r, qid)
    runs = loc.runs()
    if not delivered:
        assert runs == [], runs
    else:
        (run,) = runs
        argv = run["argv"]
        # Exactly the template's 13 elements: each placeholder is ONE argument.
        assert len(argv) == 13, argv
        assert argv[4] in (plain, written), argv
        assert argv[2] in (f"{plain}@pipe.test", f"{written}@pipe.test"), argv
        assert not (os.path.exists(os.path.join(run["cwd"], "f"))), run["cwd"]
    assert injection_traces(workdir) == []
