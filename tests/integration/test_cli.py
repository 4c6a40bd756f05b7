"""mailprocd's command line: `check` on good and bad configurations
(`FILE:LINE: unknown key 'x'`, exit 1), --help, --version, and a daemon that
refuses to start on a broken configuration."""

import mp


def write(path, text):
    path.write_text(text)
    return path


def test_check_good_config_prints_ok(workdir):
    conf = write(workdir / "good.conf", f"# a comment\n\nmyhostname = mx.test\nspooldir = {workdir}/spool\n"
                 "listen = 127.0.0.1:2525, lmtp:127.0.0.1:2424\nmax_recipients = 3\nuser = nobody\n")
    r = mp.run([str(mp.program("mailprocd")), "-c", str(conf), "check"])
    assert r.returncode == 0, mp.out(r)
    assert r.stdout.decode().strip() == "ok", mp.out(r)


def test_check_unknown_key(workdir):
    conf = write(workdir / "bad.conf", "myhostname = mx.test\n# comment\nx = 1\n")
    r = mp.run([str(mp.program("mailprocd")), "-c", str(conf), "check"])
    assert r.returncode == 1, mp.out(r)
    assert f"{conf}:3: unknown key 'x'" in mp.out(r), mp.out(r)
    assert "ok" not in r.stdout.decode().split(), mp.out(r)


def test_check_reports_every_error(workdir):
    conf = write(workdir / "bad2.conf", "foo = 1\nmyhostname = mx.test\nmax_recipients = many\nbar = 2\n")
    r = mp.run([str(mp.program("mailprocd")), "-c", str(conf), "check"])
    assert r.returncode == 1, mp.out(r)
    text = mp.out(r)
    assert f"{conf}:1: unknown key 'foo'" in text, text
    assert f"{conf}:3:" in text, text
    assert f"{conf}:4: unknown key 'bar'" in text, text


def test_check_bad_min_data_rate_names_file_and_line(workdir):
    conf = write(workdir / "rate.conf", "myhostname = mx.test\nsmtpd_min_data_rate = fast\n")
    r = mp.run([str(mp.program("mailprocd")), "-c", str(conf), "check"])
    assert r.returncode == 1, mp.out(r)
    assert f"{conf}:2: bad value for 'smtpd_min_data_rate': 'fast'" in mp.out(r), mp.out(r)


def test_check_relative_config_path_names_the_file(workdir):
    write(workdir / "rel.conf", "\ny = 2\n")
    r = mp.run([str(mp.program("mailprocd")), "-c", "rel.conf", "check"], cwd=workdir)
    assert r.returncode == 1, mp.out(r)
    assert "rel.conf:2: unknown key 'y'" in mp.out(r), mp.out(r)


def test_check_missing_config_file(workdir):
    r = mp.run([str(mp.program("mailprocd")), "-c", str(workdir / "nope.conf"), "check"])
    assert r.returncode == 1, mp.out(r)
    assert "nope.conf" in mp.out(r), mp.out(r)


def test_help_and_version():
    prog = str(mp.program("mailprocd"))
    h = mp.run([prog, "--help"])
    assert h.returncode == 0, mp.out(h)
    assert "check" in mp.out(h) and "-c" in mp.out(h), mp.out(h)
    v = mp.run([prog, "--version"])
    assert v.returncode == 0, mp.out(v)
    assert "mailproc" in mp.out(v).lower(), mp.out(v)


def test_bad_option_is_a_user_error():
    r = mp.run([str(mp.program("mailprocd")), "--no-such-option"])
    assert r.returncode == 1, mp.out(r)
    assert r.stderr.strip(), mp.out(r)


def test_daemon_refuses_to_start_on_bad_config(workdir):
    text = f"spooldir = {workdir}/spool\nlisten = 127.0.0.1:{mp.free_port()}\nx = 1\n"
    conf = write(workdir / "bad.conf", text)
    r = mp.run([str(mp.program("mailprocd")), "-c", str(conf)], limit=20)
    assert r.returncode == 1, mp.out(r)
    assert f"{conf}:3: unknown key 'x'" in mp.out(r), mp.out(r)


def test_check_accepts_the_harness_config(make_daemon):
    d = make_daemon({"relay_domains": "example.org, *.sub.test", "bare_newline": "normalize"}, start=False)
    d.write_conf()
    r = d.tool("mailprocd", "check")
    assert r.returncode == 0 and r.stdout.decode().strip() == "ok", mp.out(r)
