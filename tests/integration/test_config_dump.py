"""mailprocd's offline commands (issue 9, item 5): `check` reports the errors of
the config file and of every map file in one run; `config` prints what the file
sets (`postconf -n`), `config -d` every default (`postconf -d`), `config KEY`
effective values; `route` fills in the placeholders of a local next hop
(`expanded=`), resolves MX and host names with `--resolve` (against
ldns-testns), and warns when a domain delivered here is not in relay_domains."""

import mp
import peers
import sinks
from peers import make_dns  # noqa: F401  (fixture)


def mailprocd(conf, *args):
    return mp.run([str(mp.program("mailprocd")), "-c", str(conf), *map(str, args)])


def write_conf(workdir, lines):
    conf = workdir / "mailprocd.conf"
    conf.write_text("".join(l + "\n" for l in lines))
    return conf


def test_check_reports_config_and_map_errors_in_one_run(workdir):
    transport = sinks.write_map(workdir / "transport", ["good.test 127.0.0.1:2525", "/(unclosed/ 127.0.0.1:1"])
    conf = write_conf(workdir, ["# both kinds of error", "max_recipients = lots", f"transport = {transport}"])
    r = mailprocd(conf, "check")
    assert r.returncode == 1 and r.stdout == b"", mp.out(r)
    err = r.stderr.decode().splitlines()
    assert len(err) == 2, err
    assert err[0].startswith(f"{conf}:2: bad value for 'max_recipients': 'lots'"), err
    assert err[1].startswith(f"{transport}:2: bad regex '/(unclosed/'"), err


def test_config_prints_the_settings_of_the_file_sorted(workdir):
    conf = write_conf(workdir, ["relayhost = smarthost.test:587", "# comment", "mynetworks = 10.0.0.0/8,  127.0.0.1/32",
                                "myhostname = mx.example.org", "ndr = yes"])
    expected = ("myhostname = mx.example.org\nmynetworks = 10.0.0.0/8,  127.0.0.1/32\nndr = yes\n"
                "relayhost = smarthost.test:587\n")
    for args in ([], ["-n"]):
        r = mailprocd(conf, "config", *args)
        assert (r.returncode, r.stdout.decode(), r.stderr) == (0, expected, b""), mp.out(r)
    r = mailprocd(conf, "config", "relay_domains", "myhostname", "control_socket")
    assert r.returncode == 0, mp.out(r)
    assert r.stdout.decode() == ("control_socket = /var/spool/mailproc/control\n"
                                 "myhostname = mx.example.org\nrelay_domains =\n")
    r = mailprocd(conf, "config", "no_such_key")
    assert r.returncode == 1 and r.stderr.decode() == "mailprocd: config: unknown key 'no_such_key'\n", mp.out(r)


def test_config_d_prints_every_default(workdir):
    conf = write_conf(workdir, ["relayhost = smarthost.test:587"])
    r = mailprocd(conf, "config", "-d")
    assert r.returncode == 0 and r.stderr == b"", mp.out(r)
    lines = r.stdout.decode().splitlines()
    keys = [l.split(" =")[0] for l in lines]
    assert keys == sorted(keys) and len(keys) > 40, keys
    for line in ("relayhost =", "maxqueuetime = 5d", "mynetworks = 127.0.0.0/8, [::1]/128",
                 "listen = 127.0.0.1:2525", "smtpd_banner = $myhostname ESMTP", "user = mailproc",
                 "control_socket = /var/spool/mailproc/control", "retry_min = 5m"):
        assert line in lines, (line, lines)
    assert [l for l in lines if l.startswith("myhostname = ")], lines  # the system's name


def test_route_fills_in_placeholders_and_warns_about_relay_domains(workdir):
    transport = sinks.write_map(workdir / "transport", ["local.test maildir:/srv/mail/%u/%d/Maildir",
                                                        "open.test /usr/bin/procmail -d %u"])
    users = sinks.write_map(workdir / "users", ["root nobody", "bob daemon", ".* nobody"])
    conf = write_conf(workdir, [f"transport = {transport}", f"users = {users}", "relay_domains = open.test"])
    r = mailprocd(conf, "route", "bob@local.test", "bob@open.test", "x@remote.test")
    assert r.returncode == 0, mp.out(r)
    out = r.stdout.decode().splitlines()
    assert out[0].endswith(" user=daemon user_rule=%s:2 expanded=maildir:/srv/mail/daemon/local.test/Maildir"
                           % users), out
    assert out[1].endswith(' expanded="/usr/bin/procmail -d daemon"'), out
    assert "expanded=" not in out[2], out
    assert r.stderr.decode() == (
        "mailprocd: route: warning: local.test is delivered here but is not in relay_domains: mail for it"
        " from clients outside mynetworks is refused (554 5.7.1 Relay access denied)\n"), mp.out(r)


def test_route_resolve_shows_the_mx_hosts_and_their_addresses(workdir, make_dns):
    zone = (peers.Zone().mx("pref.test", 20, "mx2.pref.test").mx("pref.test", 10, "mx1.pref.test")
            .a("mx1.pref.test", "127.0.0.2").a("mx2.pref.test", "127.0.0.3")
            .a("nomx.test", "127.0.0.4").null_mx("null.test").nxdomain("gone.test")
            .a("smart.test", "127.0.0.5"))
    dns = make_dns(zone)
    transport = sinks.write_map(workdir / "transport", ["via.test smart.test:2525", "other.test mx:pref.test"])
    conf = write_conf(workdir, [f"dns_servers = {dns.address}", f"transport = {transport}"])
    r = mailprocd(conf, "route", "--resolve", "a@pref.test", "b@nomx.test", "c@null.test", "d@gone.test",
                  "e@via.test", "f@other.test")
    assert r.returncode == 0 and r.stderr == b"", mp.out(r)
    out = r.stdout.decode().splitlines()
    extra = [l for l in out if l.startswith("  ")]
    assert extra == [
        "  mx pref.test: 10 mx1.pref.test 127.0.0.2",
        "  mx pref.test: 20 mx2.pref.test 127.0.0.3",
        "  mx nomx.test: no MX record, A/AAAA fallback: nomx.test 127.0.0.4",
        "  mx null.test: null MX (RFC 7505): the domain accepts no mail (mail bounces)",
        "  mx gone.test: no such domain (mail bounces)",
        "  host smart.test 127.0.0.5",
        "  mx pref.test: 10 mx1.pref.test 127.0.0.2",
        "  mx pref.test: 20 mx2.pref.test 127.0.0.3",
    ], out
    # Without --resolve nothing is looked up.
    r = mailprocd(conf, "route", "a@pref.test")
    assert r.returncode == 0 and len(r.stdout.decode().splitlines()) == 1, mp.out(r)
