"""Root inside a spool its user controls (issue 9, item 9; SPEC: "Started as root").

Started as root, mailprocd creates what is missing of the spool for `user` and never
changes the owner of anything already there, never follows a link inside it, and
purges tmp/ only after dropping privileges. The race test swaps a directory inside
the spool for a symbolic link to root's files (renameat2 RENAME_EXCHANGE, as the
spool's owner could) while mailprocd starts, and finds nothing outside changed."""

import ctypes
import os
import threading
import time

import pytest

import mp

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="start-up as root")

AT_FDCWD = -100
RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


def exchange(a, b) -> None:
    if _libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))


def root_files(folder, n):
    """`n` root-owned files in a root-owned folder outside the spool."""
    folder.mkdir()
    for i in range(n):
        (folder / f"m{i}").write_text("root's\n")  # the names the spool's owner uses
    return folder


def owners(folder) -> set:
    return {os.lstat(p).st_uid for p in [folder, *folder.iterdir()]}


def owned_by(d):
    import pwd

    pw = pwd.getpwnam(d.conf["user"])
    return pw.pw_uid, pw.pw_gid


def test_a_fresh_spool_is_made_for_the_user(make_daemon):
    d = make_daemon()
    uid, _ = owned_by(d)
    for sub in (*mp.SUBQUEUES, "tmp"):
        st = os.lstat(d.spool / sub)
        assert (st.st_uid, st.st_mode & 0o777) == (uid, 0o700), (sub, st)
    assert os.lstat(d.spool).st_uid == uid


def test_nothing_already_inside_changes_owner(make_daemon):
    d = make_daemon(start=False)
    d.write_conf()
    d.make_spool()
    planted = d.spool / "deferred" / "not-a-queue-id"
    planted.write_text("left by root\n")  # root's, inside the spool
    inner = d.spool / "archive" / "by-root"
    inner.mkdir()
    (inner / "x").write_text("root's too\n")
    d.start()
    assert {os.lstat(p).st_uid for p in (planted, inner, inner / "x")} == {0}


@pytest.mark.parametrize("sub", ["hold", "tmp"])
def test_a_symlink_as_a_sub_queue_is_fatal_and_not_followed(make_daemon, workdir, sub):
    victim = root_files(workdir / "victim", 3)
    d = make_daemon(start=False)
    d.write_conf()
    d.make_spool()
    (d.spool / sub).rmdir()
    os.symlink(victim, d.spool / sub)
    r = mp.run([str(mp.program("mailprocd")), "-c", str(d.conf_path)], limit=20)
    assert r.returncode != 0, mp.out(r)
    assert f"{d.spool / sub} is a symbolic link: refusing to start" in mp.out(r), mp.out(r)
    assert owners(victim) == {0} and len(list(victim.iterdir())) == 3


def test_a_sub_queue_of_another_owner_is_fatal_naming_it(make_daemon):
    d = make_daemon(start=False)
    d.write_conf()
    d.make_spool()
    os.chown(d.spool / "deferred", 0, 0)
    r = mp.run([str(mp.program("mailprocd")), "-c", str(d.conf_path)], limit=20)
    assert r.returncode != 0, mp.out(r)
    assert f"{d.spool / 'deferred'} belongs to uid 0, not to nobody" in mp.out(r), mp.out(r)
    assert os.lstat(d.spool / "deferred").st_uid == 0


def test_swapping_a_spool_folder_for_a_link_during_start_changes_nothing_outside(
    make_daemon, workdir
):
    victim = root_files(workdir / "victim", 2000)
    d = make_daemon(start=False)
    d.write_conf()
    uid, gid = owned_by(d)
    d.make_spool()
    # The spool's owner keeps a folder of its own files next to a link to root's,
    # in a sub-queue and in tmp/ (which start-up purges), and swaps them endlessly.
    pairs = []
    for sub in ("deferred", "tmp"):
        real, link = d.spool / sub / "d", d.spool / sub / "l"
        pairs.append((sub, real, link))
    stop = threading.Event()
    swaps = [0]

    def prepare():  # both names again, whatever the last round left
        for _, real, link in pairs:
            for p in (real, link):
                if os.path.islink(p):
                    os.unlink(p)
            if os.path.isdir(link) and not os.path.lexists(real):
                os.rename(link, real)
            if not real.exists():
                real.mkdir()
                for i in range(200):
                    (real / f"m{i}").write_text("mine\n")
                for p in [real, *real.iterdir()]:
                    os.lchown(p, uid, gid)
            os.symlink(victim, link)
            os.lchown(link, uid, gid)

    def race():
        deadline = time.monotonic() + mp.timeout(60)
        while not stop.is_set() and time.monotonic() < deadline:
            for _, real, link in pairs:
                try:
                    exchange(real, link)
                    swaps[0] += 1
                except OSError:
                    pass  # tmp/ was just purged; the next round re-creates it

    for _ in range(3):
        prepare()
        racer = threading.Thread(target=race, daemon=True)
        stop.clear()
        racer.start()
        try:
            d.start()
            d.stop()
        finally:
            stop.set()
            racer.join(mp.timeout(10))
    assert swaps[0] > 100, swaps
    assert owners(victim) == {0}, "root changed the owner of files outside the spool"
    assert len(list(victim.iterdir())) == 2000, "root removed files outside the spool"
    assert os.lstat(workdir / "victim").st_mode & 0o777 == 0o755
