"""The README's `make run` (quiet, tells what to do next, delivers the demo's
mail) — also as root from a checkout under a 0700 folder such as /root, which
the demo's unprivileged user cannot reach — and `make install`'s stripped
programs. The build folder is MP_BIN's, already built: `make run` only checks
that its programs are up to date."""

import os
import signal
import smtplib
import subprocess
from pathlib import Path

import pytest

import mp


def _cache_value(build: Path, key: str, default: str = "") -> str:
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split("=", 1)[1]
    return default


class MakeRun:
    """`make run` in the background with its output in a file; stop() ends it."""

    def __init__(self, workdir: Path, run_dir: Path, fallback: Path):
        self.port = mp.free_port()
        self.out_path = workdir / "make-run.out"
        build = mp.BIN.parent
        # The same build type and flags as the build folder has: `make run` must not reconfigure it.
        args = ["make", "-C", str(mp.SOURCE), "--no-print-directory", "run", f"BUILD={build}",
                f"BUILD_TYPE={_cache_value(build, 'CMAKE_BUILD_TYPE', 'RelWithDebInfo')}",
                f"RUN_DIR={run_dir}", f"DEMO_FALLBACK={fallback}", f"DEMO_LISTEN=127.0.0.1:{self.port}"]
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_started(self) -> None:
        def listening():
            if self.proc.poll() is not None:
                raise mp.HarnessError(f"make run exited {self.proc.returncode}:\n{self.output()}")
            return "daemon started" in self.output()
        mp.wait_until(listening, limit=240, what="make run's mailprocd to start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=mp.timeout(30))
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _send_demo_mail(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=mp.timeout(20)) as s:
        s.sendmail("you@example.com", ["someone@example.org"],
                   b"Subject: make run demo\r\n\r\nhello from the demo\r\n")


def _delivered(maildir: Path):
    new = maildir / "new"
    files = list(new.iterdir()) if new.is_dir() else []
    return files


def _check_demo(workdir: Path, run_dir: Path, fallback: Path) -> Path:
    m = MakeRun(workdir, run_dir, fallback)
    try:
        m.wait_started()
        out = m.output()
        before_daemon = out[: out.index("daemon started")].splitlines()
        # Quiet: a few lines of its own, no compiler or make chatter, then the daemon's log.
        ours = [l for l in before_daemon if "mailprocd[" not in l and "mailprocd/" not in l]
        assert len(ours) <= 8, out
        assert "Building CXX" not in out and "Entering directory" not in out, out
        assert f"now send: swaks --server 127.0.0.1:{m.port} " in out, out
        _send_demo_mail(m.port)
        files = mp.wait_until(lambda: _delivered(run_dir / "Maildir"), limit=30, what="the demo's delivery")
        assert b"hello from the demo" in files[0].read_bytes()
        return files[0]
    finally:
        m.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="the demo's private-checkout case is about root")
def test_make_run_as_root_from_a_private_folder(workdir):
    private = workdir / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    run_dir = private / "run"
    fallback = workdir / "demo"
    delivered = _check_demo(workdir, run_dir, fallback)
    # mailproc cannot reach private/: the demo lives in the fallback folder, run/ links there.
    assert run_dir.is_symlink() and run_dir.resolve() == fallback.resolve()
    assert delivered.stat().st_uid == int(subprocess.check_output(["id", "-u", "mailproc"]))


def test_make_run_demo_delivers(workdir):
    run_dir = workdir / "run"
    fallback = workdir / "unused-fallback"
    _check_demo(workdir, run_dir, fallback)
    assert run_dir.is_dir() and not run_dir.is_symlink()
    assert not fallback.exists()


def test_make_install_strips_programs(workdir):
    for name in ("mailprocd", "mpqueue", "mpsendmail"):
        mp.program(name)
    dest = workdir / "dest"
    r = mp.run(["make", "-C", str(mp.SOURCE), "-o", "build", "install", f"BUILD={mp.BIN.parent}",
                f"DESTDIR={dest}"], limit=120)
    assert r.returncode == 0, mp.out(r)
    for rel in ("usr/local/sbin/mailprocd", "usr/local/bin/mpqueue", "usr/local/bin/mpsendmail"):
        sections = subprocess.run(["readelf", "-S", str(dest / rel)], capture_output=True, text=True).stdout
        assert ".debug_info" not in sections and ".symtab" not in sections, rel
        assert os.path.getsize(dest / rel) < os.path.getsize(mp.BIN / Path(rel).name)
