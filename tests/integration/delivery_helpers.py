"""Hand-made queue files and local-delivery helpers for the integration tests
(standard library only). Re-exported by sinks.py, which the tests import.

  queue files     new_queue_id(), queue_file_bytes(), write_queue_file(): a complete
                  file in the documented format (doc/queue-format.md), e.g. placed in
                  incoming/ before the daemon starts
  local delivery  make_script() (0755 in a 0755 folder), writable_dir(),
                  owned_by_runner() (a folder of the user local deliveries run as),
                  UnixUser (useradd/userdel of a throw-away user; root only)

Invariants: a queue file appears in its sub-queue complete (written under a
dot-name, then renamed); a UnixUser is removed by its owner (remove()).
"""

from __future__ import annotations

import os
import pwd
import random
import time
from pathlib import Path

import mp

IS_ROOT = os.geteuid() == 0
# The unix user local deliveries run as in these tests (users map right-hand side).
RUN_AS = "nobody"


# ---------------------------------------------------------------- queue files


_ID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUV"


def new_queue_id() -> str:
    """An ID of the daemon's shape: 11 base-32 chars of microseconds + 5 random."""
    t = time.time_ns() // 1000
    tag = random.randrange(1 << 25)
    enc = lambda v, n: "".join(_ID_DIGITS[(v >> (5 * i)) & 31] for i in range(n - 1, -1, -1))
    return enc(t, 11) + enc(tag, 5)


def _escape(value: str) -> bytes:
    """The queue file's %XX escaping of '%' and control characters (UTF-8 kept)."""
    out = bytearray()
    for b in value.encode("utf-8"):
        if b < 0x20 or b == 0x7F or b == 0x25:
            out += b"%%%02X" % b
        else:
            out.append(b)
    return bytes(out)


def queue_file_bytes(qid: str, sender: str, rcpts, content: bytes, arrival: int | None = None) -> bytes:
    """A complete queue file (queue/envelope_file.hpp, version 1), no records."""
    lines = [
        b"MAILPROC-QUEUE 1",
        b"id: " + qid.encode(),
        b"arrival: %d" % int(arrival if arrival is not None else time.time()),
        b"sender: <" + _escape(sender) + b">",
    ]
    lines += [b"rcpt: <" + _escape(r) + b">" for r in rcpts]
    lines += [
        b"helo: writer.test",
        b"client_addr: 127.0.0.1",
        b"client_name: localhost",
        b"protocol: ESMTP",
        b"smtputf8: no",
        b"eightbit: no",
        b"size: %d" % len(content),
    ]
    return b"\n".join(lines) + b"\n\n" + content


def write_queue_file(spool, subqueue: str, qid: str, data: bytes) -> Path:
    """Places a complete queue file into spool/SUBQUEUE (atomically: tmp name, rename)."""
    d = Path(spool) / subqueue
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{qid}.writing"
    tmp.write_bytes(data)
    st = d.stat()  # the spool owner's file, as mpsendmail or the daemon would leave it
    os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, d / qid)
    return d / qid


# ---------------------------------------------------------------- local delivery helpers


def make_script(directory, name: str, text: str) -> Path:
    """An executable (0755) script in a 0755 folder."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    path = d / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def writable_dir(path) -> Path:
    """A folder the local deliveries (RUN_AS when root, else us) can write in."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    p.chmod(0o777)
    return p


def owned_by_runner(path) -> Path:
    """A folder owned by the user local deliveries run as (RUN_AS when root)."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    p.chmod(0o755)
    if IS_ROOT:
        pw = pwd.getpwnam(RUN_AS)
        os.chown(p, pw.pw_uid, pw.pw_gid)
    return p


class UnixUser:
    """A throw-away unix user with its home in `home_parent` (root only):
    useradd at creation, userdel (and /var/mail/NAME removed) at remove()."""

    def __init__(self, home_parent):
        if not IS_ROOT:
            raise mp.HarnessError("creating a unix user needs root")
        self.name = f"mpt{os.getpid() % 10000}{random.randrange(1000, 9999)}"
        self.home = Path(home_parent) / self.name
        r = mp.run(["useradd", "--home-dir", str(self.home), "--create-home", "--shell", "/bin/sh",
                    "--user-group", self.name], limit=30)
        if r.returncode != 0:
            raise mp.HarnessError(f"useradd {self.name} failed: {mp.out(r)}")
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.home.chmod(0o755)

    def make_maildir(self, path=None) -> Path:
        """HOME/Maildir (or `path`) with tmp new cur, owned by the user."""
        md = Path(path) if path else self.home / "Maildir"
        for sub in ("", "tmp", "new", "cur"):
            p = md / sub
            p.mkdir(parents=True, exist_ok=True)
            os.chown(p, self.uid, self.gid)
            p.chmod(0o700)
        return md

    @property
    def mail_spool(self) -> Path:
        return Path("/var/mail") / self.name

    def remove(self) -> None:
        mp.run(["userdel", "--force", self.name], limit=30)
        try:
            self.mail_spool.unlink()
        except FileNotFoundError:
            pass
