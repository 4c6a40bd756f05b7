"""`make install` with DESTDIR and PREFIX (packaging style, into a temp dir):
programs in sbin/ and bin/, man pages in share/man/man{1,5,8}, the systemd
unit with its paths filled in, the samples in /etc/mailproc — and an
operator's edited file is never replaced by a second install."""

import os
import stat

import mp

PROGRAMS = {"sbin": ["mailprocd"], "bin": ["mpqueue", "mpsendmail"]}
SAMPLES = ["mailprocd.conf", "transport", "variables", "rewrite", "users"]


def make_install(destdir, prefix="/usr/local"):
    # -o build: use the programs already built in MP_BIN's build folder, build nothing.
    build_dir = mp.BIN.parent
    for names in PROGRAMS.values():
        for name in names:
            mp.program(name)
    return mp.run(["make", "-C", str(mp.SOURCE), "-o", "build", "install", f"BUILD={build_dir}",
                   f"DESTDIR={destdir}", f"PREFIX={prefix}"], limit=120)


def test_make_install_into_destdir(workdir):
    dest = workdir / "dest"
    r = make_install(dest)
    assert r.returncode == 0, mp.out(r)
    usr = dest / "usr" / "local"
    for folder, names in PROGRAMS.items():
        for name in names:
            p = usr / folder / name
            assert p.is_file() and os.access(p, os.X_OK), p
    # sendmail and mailq are symlinks that resolve to the installed mpsendmail.
    for link in (usr / "sbin" / "sendmail", usr / "bin" / "mailq"):
        assert link.is_symlink() and link.resolve() == (usr / "bin" / "mpsendmail").resolve(), link
    man_sources = sorted(p.name for p in (mp.SOURCE / "doc" / "man").iterdir() if p.suffix in (".1", ".5", ".8"))
    assert "mpsendmail.1" in man_sources and "mailprocd.8" in man_sources, man_sources
    for name in man_sources:
        assert (usr / "share" / "man" / f"man{name[-1]}" / name).is_file(), name
    unit = (usr / "lib" / "systemd" / "system" / "mailprocd.service").read_text()
    assert "ExecStart=/usr/local/sbin/mailprocd -c /etc/mailproc/mailprocd.conf\n" in unit, unit
    # A refused reload must fail `systemctl reload`: mpqueue waits for the answer (kill -HUP does not).
    assert "ExecReload=/usr/local/bin/mpqueue -c /etc/mailproc/mailprocd.conf reload\n" in unit, unit
    assert "@" not in unit.replace("man:", ""), "an unfilled @PLACEHOLDER@ in the unit"
    for name in SAMPLES:
        p = dest / "etc" / "mailproc" / name
        assert p.read_bytes() == (mp.SOURCE / "etc" / name).read_bytes(), name
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, oct(p.stat().st_mode)

    # The installed sample configuration is valid as it stands (the map files it names are commented out).
    r = mp.run([str(usr / "sbin" / "mailprocd"), "-c", str(dest / "etc" / "mailproc" / "mailprocd.conf"), "check"])
    assert r.returncode == 0 and r.stdout.strip() == b"ok", mp.out(r)

    # An operator's edits survive a second install; a removed sample comes back.
    conf = dest / "etc" / "mailproc" / "mailprocd.conf"
    conf.write_text("# mine\nspooldir = /srv/spool\n")
    (dest / "etc" / "mailproc" / "users").unlink()
    r = make_install(dest)
    assert r.returncode == 0, mp.out(r)
    assert conf.read_text() == "# mine\nspooldir = /srv/spool\n"
    assert (dest / "etc" / "mailproc" / "users").is_file()


def test_make_install_other_prefix(workdir):
    dest = workdir / "dest"
    r = make_install(dest, prefix="/opt/mailproc")
    assert r.returncode == 0, mp.out(r)
    assert (dest / "opt" / "mailproc" / "sbin" / "mailprocd").is_file()
    unit = (dest / "opt" / "mailproc" / "lib" / "systemd" / "system" / "mailprocd.service").read_text()
    assert "ExecStart=/opt/mailproc/sbin/mailprocd " in unit
    assert "ExecReload=/opt/mailproc/bin/mpqueue -c " in unit
