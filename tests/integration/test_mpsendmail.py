"""mpsendmail end to end: sendmail-style submission (-t, recipient arguments,
-f, -F, -i/-oi, the lone "." line) queues the message durably in the spool
and the daemon delivers it to its relayhost (the recording sink), with From:,
Date: and Message-ID: added when missing and Bcc: removed; usage errors exit
64 and queue nothing; an unusable spool exits 75 (EX_TEMPFAIL); mail queued
while no daemon runs is delivered once it starts; run as root, the queue file
belongs to the spool's owner (the daemon's user)."""

import os
import pwd
import re

import pytest

import mp
import sinks
from sinks import make_sink  # noqa: F401  (fixture)

HOST = "mx.test"  # myhostname of mp.Daemon's configuration


def sendmail(conf_path, *args, input: bytes = b"", user: str | None = None):
    """Runs mpsendmail -C CONF ARGS... with `input` on stdin (as `user` if given)."""
    prog = mp.program("mpsendmail") if user is None else mp.program_for_others("mpsendmail")
    argv = [str(prog), "-C", str(conf_path), *map(str, args)]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--clear-groups"] + argv
    return mp.run(argv, input=input, limit=30)


def invoker() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def relay(make_daemon, make_sink, **conf):
    sink = make_sink("relay")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport, **conf))
    return d, sink


def header_names(msg) -> list:
    return [k.lower() for k in msg.keys()]


def test_t_extracts_recipients_adds_headers_and_drops_bcc(make_daemon, make_sink):
    d, sink = relay(make_daemon, make_sink)
    text = (b"To: Bob <bob@example.net>, carol@example.org\n"
            b"Cc: \"Dave, D.\" <dave@example.com>\n"
            b"Bcc: secret@example.com\n"
            b"Subject: via -t\n"
            b"\n"
            b"line one\n"
            b"line two\n")
    r = sendmail(d.conf_path, "-t", "-f", "alice@example.com", "-F", "Alice Example", "-v", input=text)
    assert r.returncode == 0, mp.out(r)
    qid = re.search(r"queued as ([0-9A-Z]+)", mp.out(r)).group(1)

    sinks.wait_removed(d, qid)
    got = sink.delivered()
    assert len(got) == 1, [(t.sender, t.rcpts) for t in got]
    t = got[0]
    assert t.sender == "alice@example.com"
    assert sorted(t.accepted) == sorted(
        ["bob@example.net", "carol@example.org", "dave@example.com", "secret@example.com"]), t.rcpts
    msg = t.message
    names = header_names(msg)
    assert "bcc" not in names and b"secret@example.com" not in t.data.split(b"\r\n\r\n", 1)[0], t.data[:600]
    assert msg["From"] == "Alice Example <alice@example.com>", msg["From"]
    assert re.match(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$", msg["Date"]), msg["Date"]
    assert re.match(rf"<[^@<>\s]+@{re.escape(HOST)}>$", msg["Message-ID"]), msg["Message-ID"]
    assert msg["Subject"] == "via -t"
    # Our local Received: (with the submitting uid) is below the daemon's own, the body intact.
    received = msg.get_all("Received")
    assert any(f"from userid {os.getuid()}" in " ".join(h.split()) and f"id {qid}" in h for h in received), received
    assert t.data.endswith(b"\r\n\r\nline one\r\nline two\r\n"), t.data[-80:]
    assert b"\n" not in t.data.replace(b"\r\n", b""), "bare LF reached the next hop"


def test_recipient_arguments_default_sender_and_existing_headers(make_daemon, make_sink):
    d, sink = relay(make_daemon, make_sink)
    text = (b"From: Someone <someone@example.com>\r\n"
            b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
            b"Message-ID: <kept@example.com>\r\n"
            b"To: ignored-without-t@example.org\r\n"
            b"Subject: args\r\n\r\nbody\r\n")
    r = sendmail(d.conf_path, "-oi", "bob@example.net,carol@example.net", "root", input=text)
    assert r.returncode == 0, mp.out(r)
    got = sink.wait_delivered(1)
    sinks.wait_queue_empty(d)
    t = got[0]
    # The sender defaults to the invoking user @ myhostname; a bare name gets @myhostname too.
    assert t.sender == f"{invoker()}@{HOST}", t.sender
    assert sorted(t.accepted) == sorted(["bob@example.net", "carol@example.net", f"root@{HOST}"]), t.rcpts
    msg = t.message
    assert msg["From"] == "Someone <someone@example.com>"
    assert msg["Message-ID"] == "<kept@example.com>"
    assert msg.get_all("Date") == ["Mon, 01 Jan 2024 10:00:00 +0000"]
    assert msg.get_all("Message-ID") == ["<kept@example.com>"]


def test_dot_line_ends_input_unless_i(make_daemon, make_sink):
    d, sink = relay(make_daemon, make_sink)
    text = b"Subject: dots\n\nbefore\n.\nafter\n"
    r = sendmail(d.conf_path, "bob@example.net", input=text)
    assert r.returncode == 0, mp.out(r)
    r = sendmail(d.conf_path, "-i", "carol@example.net", input=text)
    assert r.returncode == 0, mp.out(r)
    sink.wait_delivered(2)
    sinks.wait_queue_empty(d)
    (to_bob,) = sink.delivered_to("bob@example.net")
    (to_carol,) = sink.delivered_to("carol@example.net")
    assert to_bob.data.endswith(b"\r\n\r\nbefore\r\n"), to_bob.data[-60:]
    # With -i the "." line is data (dot-stuffed on the wire, un-stuffed by the sink).
    assert to_carol.data.endswith(b"\r\n\r\nbefore\r\n.\r\nafter\r\n"), to_carol.data[-60:]


@pytest.mark.parametrize("args,input", [
    ((), b"Subject: no recipients\n\nx\n"),                     # nobody to send to
    (("-t",), b"Subject: -t but no To/Cc/Bcc\n\nx\n"),
    (("-Z", "bob@example.net"), b"x\n"),                     # unknown option
    (("-f",), b"x\n"),                                       # -f without its value
    (("-bd",), b""),                                         # a mode we do not have
    (("bad address@@example.net",), b"x\n"),                 # malformed recipient
    (("-f", "a@@b", "bob@example.net"), b"x\n"),             # malformed sender
])
def test_bad_usage_exits_64_and_queues_nothing(make_daemon, args, input):
    d = make_daemon(start=False)
    d.write_conf()
    r = sendmail(d.conf_path, *args, input=input)
    assert r.returncode == 64, mp.out(r)
    err = r.stderr.decode()
    assert err.startswith("mpsendmail: ") and err.count("\n") == 1, err
    assert mp.queued_ids(d.spool) == set()


def test_help_and_version():
    r = mp.run([str(mp.program("mpsendmail")), "--help"])
    assert r.returncode == 0 and b"usage: mpsendmail" in r.stdout, mp.out(r)
    r = mp.run([str(mp.program("mpsendmail")), "--version"])
    assert r.returncode == 0 and r.stdout.startswith(b"mpsendmail "), mp.out(r)


def test_unusable_spool_exits_75(workdir):
    spool = workdir / "broken-spool"
    for sub in mp.SPOOL_DIRS:
        (spool / sub).mkdir(parents=True, exist_ok=True)
    (spool / "incoming").rmdir()
    (spool / "incoming").write_text("not a directory\n")
    conf = workdir / "broken.conf"
    conf.write_text(f"myhostname = {HOST}\nspooldir = {spool}\nuser = nobody\n")
    r = sendmail(conf, "bob@example.net", input=b"Subject: x\n\nbody\n")
    assert r.returncode == 75, mp.out(r)
    assert "mpsendmail: " in r.stderr.decode() and "queue" in r.stderr.decode(), mp.out(r)
    assert os.listdir(spool / "tmp") == [], "a failed submission left a file in tmp/"


def test_missing_config_exits_75(workdir):
    r = sendmail(workdir / "no-such.conf", "bob@example.net", input=b"x\n")
    assert r.returncode == 75, mp.out(r)
    assert "no-such.conf" in r.stderr.decode()


def test_too_large_message_is_refused(make_daemon):
    d = make_daemon(dict(message_size_limit=1000), start=False)
    d.write_conf()
    r = sendmail(d.conf_path, "bob@example.net", input=b"Subject: big\n\n" + b"x" * 2000 + b"\n")
    assert r.returncode == 65, mp.out(r)
    assert mp.queued_ids(d.spool) == set()


@pytest.mark.skipif(not sinks.IS_ROOT, reason="needs root (to own the spool as another user)")
def test_queued_without_daemon_then_delivered_at_start(make_daemon, make_sink):
    sink = make_sink("relay")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport), start=False)
    d.start()
    d.stop()  # leaves a prepared spool owned by the daemon's user, and no daemon
    r = sendmail(d.conf_path, "-v", "bob@example.net", input=b"Subject: offline\n\nqueued offline\n")
    assert r.returncode == 0, mp.out(r)
    qid = re.search(r"queued as ([0-9A-Z]+)", mp.out(r)).group(1)
    path = d.spool / "incoming" / qid
    assert path.is_file(), sorted(mp.queued_ids(d.spool))
    # Root wrote it as the spool's owner, so the unprivileged daemon can read it.
    owner = pwd.getpwnam(d.conf["user"]).pw_uid
    assert path.stat().st_uid == owner, (path.stat().st_uid, owner)
    qf = mp.parse_queue_file(path)
    assert qf.get("protocol") == "local" and qf.recipients == ["bob@example.net"], qf.fields

    d.start()
    sinks.wait_removed(d, qid)
    (t,) = sink.delivered()
    assert t.accepted == ["bob@example.net"] and t.data.endswith(b"queued offline\r\n")


def submit_socket_supported(workdir) -> bool:
    """Whether this build's config knows `submit_socket` (the daemon's socket
    for users who may not write the spool)."""
    conf = workdir / "probe.conf"
    conf.write_text(f"spooldir = {workdir / 'probe-spool'}\nsubmit_socket = {workdir / 'probe.sock'}\n")
    r = mp.run([str(mp.program("mailprocd")), "-c", str(conf), "check"], limit=30)
    return r.returncode == 0


@pytest.mark.skipif(not sinks.IS_ROOT, reason="needs root (to run as a user who does not own the spool)")
def test_user_without_spool_access_goes_through_the_daemon(workdir, make_daemon, make_sink):
    """A user who may not write the spool hands the message to the daemon over
    its submit socket: queued and delivered, the user's uid in the Received:
    header and the log. Without a socket the answer is 75 and nothing is queued."""
    sink = make_sink("relay")
    conf = dict(sinks.FAST, relayhost=sink.hostport)
    with_socket = submit_socket_supported(workdir)
    if with_socket:
        conf["submit_socket"] = str(workdir / "run" / "submit")
    d = make_daemon(conf)
    d.conf_path.chmod(0o644)
    uid = pwd.getpwnam("daemon").pw_uid
    r = sendmail(d.conf_path, "-v", "bob@example.net", input=b"Subject: x\n\nfrom a user\n", user="daemon")
    if not with_socket:
        assert r.returncode == 75, mp.out(r)
        assert "not writable" in r.stderr.decode(), mp.out(r)
        assert mp.queued_ids(d.spool) == set()
        return
    assert r.returncode == 0, mp.out(r)
    qid = re.search(r"queued as ([0-9A-Z]+)", mp.out(r)).group(1)
    sinks.wait_removed(d, qid)
    (t,) = sink.delivered()
    assert t.sender == f"daemon@{HOST}" and t.accepted == ["bob@example.net"], (t.sender, t.rcpts)
    assert f"from userid {uid})".encode() in t.data and t.data.endswith(b"from a user\r\n"), t.data[:400]
    assert f"{qid}: uid={uid} from=<daemon@{HOST}>" in d.log_text()


@pytest.mark.skipif(not sinks.IS_ROOT, reason="needs root (to run as a user who does not own the spool)")
def test_user_without_spool_access_and_no_daemon_gets_75(workdir, make_daemon):
    conf = {"submit_socket": str(workdir / "nobody-listens" / "submit")} if submit_socket_supported(workdir) else {}
    d = make_daemon(conf, start=False)
    d.start()
    d.stop()
    d.conf_path.chmod(0o644)
    r = sendmail(d.conf_path, "bob@example.net", input=b"Subject: x\n\nbody\n", user="daemon")
    assert r.returncode == 75, mp.out(r)
    assert "not writable" in r.stderr.decode(), mp.out(r)
    assert mp.queued_ids(d.spool) == set()


def test_bs_speaks_smtp_on_stdin_and_queues_each_message(make_daemon, make_sink):
    """mpsendmail -bs (Symfony Mailer's default): an SMTP dialogue on stdin;
    the message is queued and delivered, MAIL FROM is the envelope sender."""
    d, sink = relay(make_daemon, make_sink)
    dialogue = (b"EHLO client\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<bob@example.net>\r\n"
                b"DATA\r\nSubject: via -bs\r\n\r\n..dotted\r\n.\r\nQUIT\r\n")
    r = sendmail(d.conf_path, "-bs", input=dialogue)
    assert r.returncode == 0, mp.out(r)
    replies = r.stdout.decode().split("\r\n")
    assert replies[0].startswith("220 ") and "ESMTP" in replies[0], replies
    codes = [line[:4] for line in replies if line]
    assert "250 " in codes and "354 " in codes and codes[-1] == "221 ", replies
    queued = [line for line in replies if line.startswith("250 2.0.0 Ok: queued as ")]
    assert len(queued) == 1, replies
    mp.wait_until(lambda: sink.delivered_to("bob@example.net"), 20, what="delivery")
    (t,) = sink.delivered()
    assert t.sender == "app@example.com"
    assert b"Subject: via -bs" in t.data and b"\r\n.dotted\r\n" in t.data
