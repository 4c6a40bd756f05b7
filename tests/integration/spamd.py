"""Peers of the spam-stage integration tests (test_spam*.py), standard library only.

  Spamd           Debian's real /usr/sbin/spamd, private to the test: in the
                  foreground on 127.0.0.1:PORT, `-L` (no network tests), `-x`
                  with --virtual-config-dir=DIR/users/%u (each user's user_prefs
                  and Bayes data in the test folder), --siteconfigpath=DIR/site
                  (Debian's .pre files and an empty local.cf: the system's
                  /etc/spamassassin/local.cf never applies), -H DIR/home,
                  `-u nobody` when root, log in DIR/spamd.log. rules="default"
                  uses Debian's full rule set; rules="gtube" only the GTUBE rule
                  (starts in < 1 s, scans in ~40 ms: for the tests that scan
                  hundreds of messages). start() waits (bounded) until spamd
                  answers PING; stop() ends it by its own process; pause() and
                  resume() SIGSTOP/SIGCONT it (and its children) to hold scans.
  FilterPostfix   a private Postfix (root) set up as in Postfix's
                  FILTER_README / amavisd-new's docs, with mailproc where amavis
                  would be: smtpd on 127.0.0.1:PORT hands every message to
                  `content_filter = mailproc-filter:[127.0.0.1]:LMTP_PORT` (an
                  lmtp(8) service); a second smtpd on 127.0.0.1:REINJECT_PORT
                  (content_filter cleared, no checks) takes the scanned mail back
                  and virtual(8) delivers it to DIR/vmail/LOCAL/Maildir/.
  GTUBE           the SpamAssassin test string (scores 1000).

Invariants: loopback only; every wait is mp.wait_until (bounded); every process
is stopped by its owner, by its own pid, even when the test fails.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import mp

SPAMD = "/usr/sbin/spamd"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
IS_ROOT = os.geteuid() == 0

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

GTUBE_ONLY_RULES = r"""# The one rule of the "gtube" rule set.
required_score 5.0
body GTUBE /XJS\*C4JDBQADN1\.NSBN3\*2IDNEN\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\*C\.34X/
describe GTUBE Generic Test for Unsolicited Bulk Email
score GTUBE 1000.000
"""

# "spamd: result: Y 1000 - GTUBE,... scantime=0.1,size=195,user=alice,uid=65534,...,mid=<x@y>,..."
RESULT_RE = re.compile(r"spamd: result: (?P<flag>[Y.])\s+(?P<score>-?\d+) - (?P<tests>\S*) (?P<fields>\S+)")


def _owner() -> tuple:
    """(uid, gid) spamd runs as: nobody when we are root, else ourselves."""
    if IS_ROOT:
        import pwd

        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    return os.getuid(), os.getgid()


def _chown_tree(path: Path) -> None:
    if not IS_ROOT:
        return
    uid, gid = _owner()
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid)


@dataclass
class ScanResult:
    spam: bool
    score: int
    tests: list
    user: str
    mid: str
    line: str


class Spamd:
    START_LIMIT = 90.0  # the full rule set compiles for a few seconds; sanitizer runs are slower

    def __init__(self, directory, rules: str = "default", max_children: int = 5):
        mp.require_tool(SPAMD, "spamd")
        self.dir = Path(directory)
        self.rules = rules
        self.max_children = max_children
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "spamd.log"
        self.users = self.dir / "users"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def user_prefs(self, user: str, text: str) -> None:
        """DIR/users/USER/user_prefs (e.g. "required_score 2000")."""
        d = self.users / user
        d.mkdir(parents=True, exist_ok=True)
        (d / "user_prefs").write_text(text + "\n")
        _chown_tree(self.users)

    def _prepare(self) -> list:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        site = self.dir / "site"
        site.mkdir(exist_ok=True)
        for pre in glob.glob("/etc/spamassassin/*.pre"):
            shutil.copy(pre, site)
        (site / "local.cf").write_text("# private to the test\n")
        for d in (self.users, self.dir / "home"):
            d.mkdir(exist_ok=True)
        _chown_tree(self.users)
        _chown_tree(self.dir / "home")
        argv = [SPAMD, "-L", "-x", f"--virtual-config-dir={self.users}/%u",
                f"--siteconfigpath={site}", f"--helper-home-dir={self.dir / 'home'}",
                f"--max-children={self.max_children}", f"--min-children={min(2, self.max_children)}",
                f"--syslog={self.log_path}", "--timeout-child=60"]
        if self.rules == "gtube":
            rules = self.dir / "rules"
            rules.mkdir(exist_ok=True)
            (rules / "10_gtube.cf").write_text(GTUBE_ONLY_RULES)
            argv.append(f"--configpath={rules}")
        elif self.rules != "default":
            raise ValueError(f"unknown rule set {self.rules!r}")
        if IS_ROOT:
            argv += ["-u", "nobody", "-g", "nogroup"]
        return argv

    def start(self, port: int | None = None) -> "Spamd":
        """Starts spamd (on `port`, e.g. to come back where it was, else a free one)."""
        argv = self._prepare()
        for attempt in range(1 if port else 5):
            self.port = port or mp.free_port()
            with open(self.dir / "spamd.out", "ab") as out:
                self.proc = subprocess.Popen(argv + [f"--listen=127.0.0.1:{self.port}"],
                                             stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                             cwd=self.dir)
            try:
                mp.wait_until(self.ping, self.START_LIMIT, interval=0.05,
                              what=f"spamd to answer PING on {self.endpoint}")
                return self
            except mp.HarnessError:
                exited = self.proc.poll() is not None
                self.stop()
                if exited and "in use" in self.output() and attempt < 4:
                    continue
                raise mp.HarnessError(f"spamd did not start:\n{self.output()}\n{self.log_tail()}") from None
        raise mp.HarnessError("unreachable")

    def ping(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise mp.HarnessError(f"spamd exited with {self.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"PING SPAMC/1.5\r\n\r\n")
                return s.recv(100).startswith(b"SPAMD/1.5 0 PONG")
        except OSError:
            return False

    def pids(self) -> list:
        """spamd's parent and its children (the processes that scan)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        out = [self.proc.pid]
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:  # ppid
                out.append(int(stat.split("/")[2]))
        return out

    def pause(self) -> None:
        """SIGSTOP to spamd and its children: connections queue up, nothing is answered."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM to spamd's parent (it ends its children), bounded wait, SIGKILL last."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()  # a paused spamd cannot act on SIGTERM
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(mp.timeout(20))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(mp.timeout(10))

    def output(self) -> str:
        try:
            return (self.dir / "spamd.out").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def results(self, mid: str | None = None) -> list:
        """The scans spamd logged ("spamd: result: ..."), optionally for one Message-ID."""
        out = []
        for line in self.log_text().splitlines():
            m = RESULT_RE.search(line)
            if not m:
                continue
            fields = dict(f.split("=", 1) for f in m["fields"].split(",") if "=" in f)
            r = ScanResult(m["flag"] == "Y", int(m["score"]), m["tests"].split(","),
                           fields.get("user", ""), fields.get("mid", ""), line)
            if mid is None or r.mid == mid:
                out.append(r)
        return out


# ---------------------------------------------------------------- mailproc's spam log lines

SPAM_LINE_RE = re.compile(
    r"mailprocd/spam\[\d+\]: (?P<id>[0-9A-Z]+): user=(?P<user>[^,]+), result=(?P<result>\w+)"
    r"(?:, score=(?P<score>[-\d.]+)/(?P<required>[-\d.]+))?.*?"
    r"(?:, running=(?P<running>\d+)/(?P<cap>\d+), queued=(?P<queued>\d+))?$"
)


def spam_lines(d: "mp.Daemon", user: str | None = None) -> list:
    """mailproc's per-scan log lines, as match objects (id, user, result, score, running...)."""
    out = []
    for line in d.log_text().splitlines():
        m = SPAM_LINE_RE.search(line)
        if m and (user is None or m["user"] == user):
            out.append(m)
    return out


# ---------------------------------------------------------------- the Postfix content filter


class FilterPostfix:
    """Postfix -> (LMTP) mailproc -> (SMTP) Postfix re-injection -> virtual(8) maildirs."""

    def __init__(self, directory, filter_lmtp_port: int, domain: str, users):
        if not IS_ROOT:
            raise mp.HarnessError("a private Postfix instance needs root")
        mp.require_tool(POSTFIX, "postfix")
        self.dir = Path(directory)
        self.etc, self.queue, self.data = self.dir / "etc", self.dir / "queue", self.dir / "data"
        self.vmail = self.dir / "vmail"
        self.log_path = self.dir / "postfix.log"
        self.domain = domain
        self.port = self.reinject_port = 0
        self.started = False
        mailboxes = ", ".join(f"{u}@{domain}={u}/Maildir/" for u in users)
        uid, gid = _owner()
        self.conf = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "meta_directory": "/etc/postfix",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "postfix.test",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "smtp_dns_support_level": "disabled",
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.dir,
            "alias_maps": "",
            "alias_database": "",
            "local_transport": "error:5.1.1 no local delivery here",
            "default_transport": "error:5.4.6 nothing is relayed here",
            "virtual_mailbox_domains": domain,
            "virtual_mailbox_base": self.vmail,
            "virtual_mailbox_maps": "inline:{ " + mailboxes + " }",
            "virtual_uid_maps": f"static:{uid}",
            "virtual_gid_maps": f"static:{gid}",
            "virtual_minimum_uid": "1",
            "smtputf8_enable": "no",
            "queue_run_delay": "2s",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            # FILTER_README: every message received goes to the filter first.
            "content_filter": f"mailproc-filter:inet:[127.0.0.1]:{filter_lmtp_port}",
        }

    def _run(self, argv, limit: float = 60) -> None:
        r = mp.run(argv, limit=limit)
        if r.returncode != 0:
            # postfix(1) reports to stderr only when that is a terminal.
            again = mp.run(["script", "-qec", " ".join(map(str, argv)), "/dev/null"], limit=limit)
            raise mp.HarnessError(f"{' '.join(map(str, argv))} failed: {mp.out(r)}{mp.out(again)}\n"
                                  f"{self.log_tail()}")

    def _postconf(self, *args) -> None:
        self._run([POSTCONF, "-c", str(self.etc), *args], limit=30)

    def start(self) -> "FilterPostfix":
        for d in (self.etc, self.queue, self.data, self.vmail):
            d.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data, "postfix")
        _chown_tree(self.vmail)
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in self.conf.items()))
        self._postconf("-F", "*/*/chroot = n")
        self._postconf("-M#", "smtp/inet")
        # The LMTP client that feeds mailproc (amavisd-new's "amavisfeed").
        self._postconf("-M", "mailproc-filter/unix=mailproc-filter unix - - n - 2 lmtp")
        self._postconf("-P", "mailproc-filter/unix/lmtp_data_done_timeout=1200",
                       "mailproc-filter/unix/max_use=20")
        self.port, self.reinject_port = mp.free_port(), mp.free_port()
        front = f"127.0.0.1:{self.port}/inet"
        back = f"127.0.0.1:{self.reinject_port}/inet"
        self._postconf("-M", f"{front}=127.0.0.1:{self.port} inet n - n - - smtpd")
        # Address mappings happen once, after the filter (FILTER_README).
        self._postconf("-P", f"{front}/receive_override_options=no_address_mappings")
        # The re-injection smtpd: no filter, no checks, only from loopback.
        self._postconf("-M", f"{back}=127.0.0.1:{self.reinject_port} inet n - n - 10 smtpd")
        self._postconf(
            "-P",
            f"{back}/content_filter=",
            f"{back}/receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters",
            f"{back}/smtpd_helo_restrictions=",
            f"{back}/smtpd_client_restrictions=",
            f"{back}/smtpd_sender_restrictions=",
            f"{back}/smtpd_recipient_restrictions=permit_mynetworks,reject",
            f"{back}/mynetworks=127.0.0.0/8",
        )
        self._run([POSTFIX, "-c", str(self.etc), "check"])
        self.started = True
        self._run([POSTFIX, "-c", str(self.etc), "start"])
        for port in (self.port, self.reinject_port):
            mp.wait_until(lambda: _greets(port), 30, what=f"Postfix smtpd on 127.0.0.1:{port}")
        return self

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        pid = None
        try:
            pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
        mp.run([POSTFIX, "-c", str(self.etc), "stop"], limit=60)
        if pid:
            mp.wait_until(lambda: not _alive(pid), 20, what=f"Postfix master {pid} to exit")

    def maildir_new(self, user: str) -> list:
        d = self.vmail / user / "Maildir" / "new"
        return sorted(d.iterdir()) if d.is_dir() else []

    def queue_count(self) -> int:
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _root, _dirs, files in os.walk(self.queue / sub):
                n += len(files)
        return n

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def _greets(port: int) -> bool:
    try:
        with mp.RawClient("127.0.0.1", port, limit=3.0) as c:
            ok = c.reply().code == 220
            c.send(b"QUIT\r\n")
            return ok
    except (ConnectionRefusedError, ConnectionResetError, EOFError, socket.timeout):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
