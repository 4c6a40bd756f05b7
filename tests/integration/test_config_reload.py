"""Reload (SIGHUP, `mpqueue reload`) re-reads mailprocd.conf as well as the map
files and applies it at once to new SMTP sessions: mynetworks, relay_domains,
the limits, the banner (issue 9, items 5 and 11). A broken file keeps the old
settings whole and `mpqueue reload` exits 1 naming FILE:LINE; a changed key that
only a restart applies (`listen`, ...) is named in the reply and the log.
Outside clients are simulated by binding the client socket to 127.0.0.2."""

import signal

import mp

OUTSIDE = "127.0.0.2"
CONF = {"mynetworks": "127.0.0.0/8", "relay_domains": "example.org"}


def mpq(d, *args):
    return d.tool("mpqueue", *args)


def rcpt_reply(d, rcpt, source=OUTSIDE):
    with d.session(source=source) as c:
        assert c.cmd("MAIL FROM:<a@outside.test>").code == 250
        r = c.cmd(f"RCPT TO:<{rcpt}>")
        c.cmd("QUIT")
        return r


def reconfigure(d, **changes):
    """Rewrites the daemon's mailprocd.conf with these keys changed (None removes one)."""
    d.conf.update(changes)
    return d.write_conf()


def line_of(path, key) -> int:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith(key + " ="):
            return n
    raise AssertionError(f"{key} not in {path}")


def test_mpqueue_reload_removes_a_host_from_mynetworks(make_daemon):
    d = make_daemon(CONF)
    assert rcpt_reply(d, "user@other.net").code == 250  # 127.0.0.2 is in 127.0.0.0/8
    reconfigure(d, mynetworks="127.0.0.1/32")
    r = mpq(d, "reload")
    assert (r.returncode, r.stdout, r.stderr) == (
        0, b"mailprocd reloaded its configuration and map files\n", b""), mp.out(r)
    denied = rcpt_reply(d, "user@other.net")
    assert (denied.code, denied.enhanced) == (554, "5.7.1"), denied
    assert "relay access denied" in denied.text.lower(), denied
    assert rcpt_reply(d, "user@example.org").code == 250  # relay_domains still open to all
    assert rcpt_reply(d, "user@other.net", source="127.0.0.1").code == 250


def test_sighup_applies_mynetworks_relay_domains_limits_and_banner(make_daemon):
    d = make_daemon(CONF)
    with d.client() as c:
        assert c.greeting().text.startswith("mx.test ESMTP"), "default banner"
    reconfigure(d, mynetworks="127.0.0.1/32", relay_domains="other.net", max_recipients=1,
                smtpd_banner="$myhostname ESMTP reloaded")
    d.proc.send_signal(signal.SIGHUP)
    mp.wait_until(lambda: "reload: configuration and map files reloaded" in d.log_text(),
                  what="the reload")
    with d.client() as c:
        assert c.greeting().text == "mx.test ESMTP reloaded"
    assert rcpt_reply(d, "user@example.org").code == 554  # no longer a relay domain
    with d.session(source=OUTSIDE) as c:
        assert c.cmd("MAIL FROM:<a@outside.test>").code == 250
        assert c.cmd("RCPT TO:<one@other.net>").code == 250  # now a relay domain
        r = c.cmd("RCPT TO:<two@other.net>")
        assert (r.code, r.enhanced) == (452, "4.5.3"), r  # max_recipients = 1
        c.cmd("QUIT")


def test_reload_with_a_broken_config_keeps_the_old_settings(make_daemon):
    d = make_daemon(CONF)
    conf = reconfigure(d, mynetworks="127.0.0.1/32", max_recipients="many")
    bad_line = line_of(conf, "max_recipients")
    r = mpq(d, "reload")
    assert r.returncode == 1 and r.stdout == b"", mp.out(r)
    err = r.stderr.decode().splitlines()
    assert err[0].startswith(f"{conf}:{bad_line}: bad value for 'max_recipients': 'many'"), err
    assert err[-1] == "mpqueue: reload refused: mailprocd keeps its current rules", err
    assert f"reload refused, old settings kept: {conf}:{bad_line}:" in d.log_text()
    # Nothing of the file was taken, not even its good mynetworks line.
    assert rcpt_reply(d, "user@other.net").code == 250

    reconfigure(d, max_recipients=None)  # fixed: the whole file is taken
    assert mpq(d, "reload").returncode == 0
    assert rcpt_reply(d, "user@other.net").code == 554


def test_reload_changing_listen_says_it_takes_effect_at_restart(make_daemon):
    d = make_daemon(CONF)
    bound = list(d.listeners)
    d.listeners = [(p, h, mp.free_port(h)) for p, h, _ in bound]
    reconfigure(d, mynetworks="127.0.0.1/32")
    r = mpq(d, "reload")
    d.listeners = bound  # the daemon still listens where it started
    assert r.returncode == 0 and r.stderr == b"", mp.out(r)
    assert r.stdout.decode().splitlines() == [
        "mailprocd reloaded its configuration and map files",
        "mailprocd: listen changed: takes effect at restart",
    ], mp.out(r)
    assert "warning: reload: listen changed: takes effect at restart" in d.log_text()
    # The rest of the file was applied, on the listener bound at start.
    assert rcpt_reply(d, "user@other.net").code == 554
    d.write_conf()
