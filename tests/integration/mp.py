"""mailproc integration-test harness (standard library only).

Used by the tests in this folder (through conftest.py's fixtures) to run the
real `mailprocd` binary against real clients (smtplib, raw sockets, swaks,
smtp-source) on loopback only.

Invariants:
  * every wait is bounded in time AND in number of polls (wait_until), never a
    fixed sleep used for synchronisation;
  * all traffic stays on 127.0.0.0/8 or ::1;
  * every temp dir is made by make_tempdir (mode 0755, so the unprivileged
    `user` the daemon drops to can reach its spool) and removed by its fixture;
  * a Daemon writes its own mailprocd.conf, keeps its stderr in a log file for
    failure messages, and is stopped by SIGTERM with exit status 0 checked.

Environment: MP_BIN (folder of the built programs; default REPO/build/bin),
MP_SOURCE (repo root), MP_TIMEOUT_SCALE (multiplies every timeout, e.g. 3
under sanitizers), MP_KEEP=1 keeps temp dirs.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(os.environ.get("MP_SOURCE") or Path(__file__).resolve().parents[2])
BIN = Path(os.environ.get("MP_BIN") or SOURCE / "build" / "bin")
SCALE = float(os.environ.get("MP_TIMEOUT_SCALE") or 1.0)

SWAKS = "/usr/bin/swaks"
SMTP_SOURCE = "/usr/sbin/smtp-source"
OPENSSL = "/usr/bin/openssl"

# Sub-queues that hold complete queue files, in the order mail normally moves.
SUBQUEUES = ("incoming", "active", "deferred", "hold", "archive", "corrupt")
SPOOL_DIRS = ("tmp",) + SUBQUEUES

QUEUED_AS = re.compile(r"queued as ([A-Za-z0-9]+)")
QUEUE_MAGIC = b"MAILPROC-QUEUE 1\n"

CRLF = b"\r\n"


class HarnessError(AssertionError):
    """A failure of the environment or of the daemon, with context attached."""


def timeout(seconds: float) -> float:
    """A timeout scaled by MP_TIMEOUT_SCALE (slow sanitizer builds)."""
    return seconds * SCALE


def require_tool(path: str, package: str) -> str:
    if not os.access(path, os.X_OK):
        raise HarnessError(
            f"{path} is missing: install the Debian package '{package}' (.ci/install-deps does)"
        )
    return path


def require_perl_module(module: str, package: str) -> None:
    r = subprocess.run(["perl", f"-M{module}", "-e", "1"], capture_output=True)
    if r.returncode != 0:
        raise HarnessError(f"Perl module {module} is missing: install the Debian package '{package}'")


def program(name: str) -> Path:
    path = BIN / name
    if not os.access(path, os.X_OK):
        raise HarnessError(f"{path} not found or not executable: build it first (MP_BIN={BIN})")
    return path


_SHARED_BIN = None


def program_for_others(name: str) -> Path:
    """A copy of BIN/NAME that other users (nobody, daemon) may run: the build folder
    may sit in a checkout under a 0700 folder such as /root, which they cannot reach.
    The copies live in one 0755 temp folder per test process, removed at exit."""
    global _SHARED_BIN
    if _SHARED_BIN is None:
        _SHARED_BIN = Path(tempfile.mkdtemp(prefix="mp-bin-"))
        _SHARED_BIN.chmod(0o755)
        atexit.register(shutil.rmtree, _SHARED_BIN, True)
    copy = _SHARED_BIN / name
    if not copy.exists():
        shutil.copy2(program(name), copy)
        copy.chmod(0o755)
    return copy


def wait_until(pred, limit: float = 10.0, interval: float = 0.01, what: str = "condition"):
    """Polls pred() until it returns something truthy; returns that value.

    Bounded both in time (limit, scaled) and in count of polls. The poll
    interval grows from `interval` to at most 0.1 s. Raises HarnessError on
    timeout, naming `what`.
    """
    deadline = time.monotonic() + timeout(limit)
    max_polls = int(timeout(limit) / interval) + 2
    delay = interval
    last = None
    for _ in range(max_polls):
        last = pred()
        if last:
            return last
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 1.5, 0.1)
    raise HarnessError(f"timed out after {timeout(limit):.1f}s waiting for {what} (last: {last!r})")


# ---------------------------------------------------------------- temp dirs, ports


def make_tempdir(prefix: str = "mp-it-") -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def remove_tempdir(path: Path) -> None:
    if os.environ.get("MP_KEEP"):
        return
    shutil.rmtree(path, ignore_errors=True)


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind port 0, close). Daemon.start
    retries with fresh ports when the daemon still finds it in use."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ClosedPort:
    """A loopback port that refuses connections for as long as this object
    lives: bound, never listening (Linux answers SYNs with RST)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.sock = socket.socket(_family(host), socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- queue files


class QueueFileError(ValueError):
    pass


REQUIRED_KEYS = ("id", "arrival", "sender", "rcpt", "helo", "client_addr", "client_name",
                 "protocol", "smtputf8", "eightbit", "size")
RECORD_TYPES = ("R", "A", "W", "N")


def unescape(value: str) -> str:
    """Undoes the queue file's %XX escaping (on the UTF-8 bytes)."""
    raw = value.encode("utf-8", "surrogateescape")
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i : i + 1] == b"%":
            hexdigits = raw[i + 1 : i + 3]
            if len(hexdigits) != 2 or not all(c in b"0123456789ABCDEFabcdef" for c in hexdigits):
                raise QueueFileError(f"bad %-escape in {value!r}")
            out.append(int(hexdigits, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def _address(value: str) -> str:
    if not (value.startswith("<") and value.endswith(">")):
        raise QueueFileError(f"address not in <>: {value!r}")
    return unescape(value[1:-1])


@dataclass
class QueueFile:
    """One parsed queue file (doc/queue-format.md). `fields` hold the header
    values as written (escaped); use get()/getall() for unescaped values."""

    path: Path
    id: str
    fields: list = field(default_factory=list)  # [(key, raw value)] in file order
    content: bytes = b""  # exactly `size` bytes
    records: list = field(default_factory=list)  # complete record lines (str, no newline)
    torn: bool = False  # a torn (unterminated) last record was ignored, as readers must

    def get(self, key: str, default=None):
        for k, v in self.fields:
            if k == key:
                return unescape(v)
        return default

    def getall(self, key: str) -> list:
        return [unescape(v) for k, v in self.fields if k == key]

    @property
    def sender(self) -> str:
        return _address(self.raw("sender"))

    @property
    def recipients(self) -> list:
        return [_address(v) for k, v in self.fields if k == "rcpt"]

    def raw(self, key: str):
        for k, v in self.fields:
            if k == key:
                return v
        return None

    def body_after_received(self) -> bytes:
        return split_received(self.content)[1]


def parse_queue_file(path) -> QueueFile:
    """Parses one queue file. Raises QueueFileError when it is not complete
    and well-formed: bad magic, malformed or missing header line, `id:` not the
    file name, content shorter than `size:`, a malformed complete record. A
    torn (unterminated) last record is ignored, as the format says."""
    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(QUEUE_MAGIC):
        raise QueueFileError(f"{path}: does not start with {QUEUE_MAGIC!r}: {data[:40]!r}")
    pos = len(QUEUE_MAGIC)
    fields = []
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise QueueFileError(f"{path}: header not terminated by a blank line")
        line = data[pos:end]
        pos = end + 1
        if line == b"":
            break
        key, sep, value = line.partition(b":")
        if not sep or not key or key != key.strip() or (value and not value.startswith(b" ")):
            raise QueueFileError(f"{path}: malformed header line {line!r}")
        if any(c < 0x20 or c == 0x7F for c in line):
            raise QueueFileError(f"{path}: raw control character in header line {line!r}")
        fields.append((key.decode("ascii", "replace"), value[1:].decode("utf-8", "surrogateescape")))
    keys = [k for k, _ in fields]
    for k in REQUIRED_KEYS:
        if k not in keys:
            raise QueueFileError(f"{path}: missing header key {k!r}")
        if k != "rcpt" and keys.count(k) != 1:
            raise QueueFileError(f"{path}: header key {k!r} appears {keys.count(k)} times")
    qf = QueueFile(path=path, id=path.name, fields=fields)
    if qf.raw("id") != path.name:
        raise QueueFileError(f"{path}: id: {qf.raw('id')!r} is not the file name")
    size = qf.raw("size")
    if not size.isdigit():
        raise QueueFileError(f"{path}: bad size: {size!r}")
    size = int(size)
    if len(data) - pos < size:
        raise QueueFileError(f"{path}: content has {len(data) - pos} bytes, size: says {size}")
    qf.sender, qf.recipients  # both parse
    qf.content = data[pos : pos + size]
    tail = data[pos + size :]
    lines = tail.split(b"\n")
    qf.torn = lines[-1] != b""
    for rec in lines[:-1]:
        text = rec.decode("utf-8", "surrogateescape")
        if text.split(" ", 1)[0] not in RECORD_TYPES or any(c < 0x20 or c == 0x7F for c in rec):
            raise QueueFileError(f"{path}: malformed record {rec!r}")
        qf.records.append(text)
    return qf


def queue_files(spool, subqueues=SUBQUEUES) -> dict:
    """{queue ID: path} over the given sub-queues (tmp/ never included).
    A message moving between sub-queues while we list is found at least once
    in the usual forward direction; callers that need an exact count poll."""
    result = {}
    for sub in subqueues:
        d = Path(spool) / sub
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for name in names:
            if name.startswith("."):
                continue
            result.setdefault(name, d / name)
    return result


def queued_ids(spool, subqueues=SUBQUEUES) -> set:
    return set(queue_files(spool, subqueues))


def find_queue_file(spool, qid: str, subqueues=SUBQUEUES):
    """The path of message `qid` in whichever sub-queue holds it, or None.
    Retries briefly, since the queue manager may be renaming it between two
    sub-queues while we look."""
    for _ in range(20):
        for sub in subqueues:
            p = Path(spool) / sub / qid
            if p.is_file():
                return p
        time.sleep(0.01)
    return None


def parse_all(spool, subqueues=SUBQUEUES) -> dict:
    """{queue ID: QueueFile} for every file in the sub-queues; raises
    QueueFileError for any file that does not parse. A file renamed away
    while we read it is looked up again."""
    result = {}
    for qid in queue_files(spool, subqueues):
        for _ in range(20):
            path = find_queue_file(spool, qid, subqueues)
            if path is None:
                break  # removed meanwhile (delivered): nothing to check
            try:
                result[qid] = parse_queue_file(path)
                break
            except FileNotFoundError:
                continue
    return result


def load_message(spool, qid: str) -> QueueFile:
    """find + parse, retrying when the file moved between find and read."""
    last = None
    for _ in range(20):
        path = find_queue_file(spool, qid)
        if path is None:
            raise HarnessError(f"queue file {qid} not found in {spool}: {sorted(queued_ids(spool))}")
        try:
            return parse_queue_file(path)
        except FileNotFoundError as e:
            last = e
    raise HarnessError(f"queue file {qid} kept moving: {last}")


def split_received(content: bytes):
    """(the first header field, which must be Received:, incl. its folded
    continuation lines; the rest). Raises HarnessError if it is not there."""
    if not content[:9].lower() == b"received:":
        raise HarnessError(f"stored content does not start with Received:: {content[:80]!r}")
    pos = 0
    while True:
        end = content.find(b"\n", pos)
        if end < 0:
            raise HarnessError(f"unterminated Received: header: {content[:200]!r}")
        pos = end + 1
        if pos >= len(content) or content[pos : pos + 1] not in (b" ", b"\t"):
            return content[:pos], content[pos:]


# ---------------------------------------------------------------- raw SMTP client


@dataclass
class Reply:
    code: int
    lines: list  # text after "NNN-" / "NNN ", str
    raw: bytes

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})\b", self.lines[0] if self.lines else "")
        return m.group(1) if m else None

    @property
    def queue_id(self):
        m = QUEUED_AS.search(self.text)
        return m.group(1) if m else None

    def keywords(self) -> dict:
        """EHLO/LHLO capabilities: {KEYWORD: [params]} (first line skipped)."""
        out = {}
        for line in self.lines[1:]:
            parts = line.split()
            if parts:
                out[parts[0].upper()] = parts[1:]
        return out

    def __str__(self) -> str:
        return self.raw.decode("utf-8", "replace").rstrip()


class RawClient:
    """A byte-exact SMTP/LMTP client on a plain socket: send anything, read
    replies one at a time with a deadline."""

    def __init__(self, host: str, port: int, source: str | None = None, limit: float = 10.0):
        self.limit = timeout(limit)
        self.sock = socket.socket(_family(host), socket.SOCK_STREAM)
        self.sock.settimeout(self.limit)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HarnessError(f"no reply within {self.limit:.1f}s; buffered: {self.buf!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise HarnessError(f"no reply within {self.limit:.1f}s; buffered: {self.buf!r}") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_line(self, deadline: float):
        """One line without its CRLF, or None at end of stream."""
        for _ in range(100000):
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
                return line
            if self.eof or not self._fill(deadline):
                return None
        raise HarnessError("reply line too long")

    def reply(self) -> Reply:
        """The next complete reply. Raises EOFError if the server closed first."""
        deadline = time.monotonic() + self.limit
        raw = b""
        lines = []
        code = None
        for _ in range(10000):
            line = self.read_line(deadline)
            if line is None:
                raise EOFError(f"connection closed; partial reply {raw!r}")
            raw += line
            text = line.rstrip(b"\r\n").decode("utf-8", "replace")
            m = re.match(r"(\d{3})([ -])(.*)$", text) or re.match(r"(\d{3})()()$", text)
            if not m:
                raise HarnessError(f"malformed reply line {line!r}")
            if code is None:
                code = int(m.group(1))
            elif int(m.group(1)) != code:
                raise HarnessError(f"reply code changed inside a multi-line reply: {raw!r}")
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(code, lines, raw)
        raise HarnessError("reply with too many lines")

    def cmd(self, line) -> Reply:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + CRLF)
        return self.reply()

    def greeting(self) -> Reply:
        r = self.reply()
        if r.code != 220:
            raise HarnessError(f"greeting is not 220: {r}")
        return r

    def ehlo(self, name: str = "client.test", verb: str = "EHLO") -> Reply:
        r = self.cmd(f"{verb} {name}")
        if r.code != 250:
            raise HarnessError(f"{verb} refused: {r}")
        return r

    def replies_until_close(self, max_replies: int = 100) -> list:
        out = []
        for _ in range(max_replies):
            try:
                out.append(self.reply())
            except EOFError:
                return out
        raise HarnessError(f"server sent more than {max_replies} replies: {out}")

    def closed(self) -> bool:
        """True once the server has closed (waits at most the client limit)."""
        deadline = time.monotonic() + self.limit
        while not self.eof:
            if not self._fill(deadline):
                break
        return self.eof and not self.buf

    def starttls(self, context: ssl.SSLContext, server_hostname: str = "localhost") -> None:
        if self.buf:
            raise HarnessError(f"plaintext data buffered before TLS: {self.buf!r}")
        self.sock.settimeout(self.limit)
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)

    def send_message(self, sender: str, rcpts, content: bytes, ehlo: bool = True, pipelined: bool = True):
        """One whole transaction; `content` is sent dot-stuffed. Returns
        (list of MAIL/RCPT/DATA replies, final reply)."""
        if ehlo:
            self.ehlo()
        cmds = [f"MAIL FROM:<{sender}>"] + [f"RCPT TO:<{r}>" for r in rcpts] + ["DATA"]
        replies = []
        if pipelined:
            self.send("".join(c + "\r\n" for c in cmds))
            replies = [self.reply() for _ in cmds]
        else:
            for c in cmds:
                replies.append(self.cmd(c))
                if replies[-1].code >= 400:
                    break
        if replies[-1].code != 354:
            return replies, None
        self.send(dot_stuff(content) + b".\r\n")
        return replies, self.reply()


def dot_stuff(content: bytes) -> bytes:
    """SMTP transparency (RFC 5321 4.5.2); also terminates an unterminated
    last line with CRLF, as every client does."""
    if content and not content.endswith(CRLF):
        content += CRLF
    out = []
    for line in content.split(CRLF)[:-1] if content else []:
        out.append(b"." + line if line.startswith(b".") else line)
    return b"".join(l + CRLF for l in out)


# ---------------------------------------------------------------- the daemon


def _conf_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _listen_item(proto: str, host: str, port: int) -> str:
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return addr if proto == "smtp" else f"{proto}:{addr}"


class Daemon:
    """One mailprocd under test, in its own folder:
    DIR/mailprocd.conf, DIR/spool, DIR/mailprocd.log (its stderr).

    conf: extra keys (SPEC names) overriding the defaults below; a value None
    removes a key. listeners: [(protocol, address)], protocol "smtp"/"lmtp";
    ports are picked here. By default relayhost points at a loopback port that
    refuses connections, so delivery attempts fail and mail stays queued.
    """

    START_LIMIT = 15.0
    STOP_LIMIT = 20.0

    def __init__(self, directory, conf: dict | None = None, listeners=(("smtp", "127.0.0.1"),)):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.conf_path = self.dir / "mailprocd.conf"
        self.log_path = self.dir / "mailprocd.log"
        self.spool = self.dir / "spool"
        self.listeners = [(p, h, free_port(h)) for p, h in listeners]
        self.closed_port = ClosedPort()
        self.conf = {
            "myhostname": "mx.test",
            "spooldir": str(self.spool),
            "user": "nobody",
            "relayhost": f"127.0.0.1:{self.closed_port.port}",
            "submit_socket": str(self.dir / "submit"),
        }
        self.conf.update(conf or {})
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.exit_codes: list = []  # of every run, in order (negative: killed by that signal)
        self.term_sent = self.reaped = False

    # -- configuration

    def make_spool(self) -> Path:
        """Creates the spool and its sub-queues before a start, as a running daemon
        would leave them: owned by the user it drops to when root (mailprocd never
        changes the owner of anything already inside a spool)."""
        for sub in (*SUBQUEUES, "tmp"):
            (self.spool / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.conf.get("user") or "nobody")
            for p in (self.spool, *(self.spool / sub for sub in (*SUBQUEUES, "tmp"))):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        return self.spool

    def write_conf(self) -> Path:
        conf = dict(self.conf)
        conf["listen"] = " ".join(_listen_item(*l) for l in self.listeners)
        lines = ["# written by tests/integration/mp.py"]
        lines += [f"{k} = {_conf_value(v)}" for k, v in conf.items() if v is not None]
        self.conf_path.write_text("\n".join(lines) + "\n")
        return self.conf_path

    def addr(self, proto: str = "smtp", index: int = 0):
        matches = [(h, p) for pr, h, p in self.listeners if pr == proto]
        return matches[index]

    @property
    def host(self) -> str:
        return self.addr()[0]

    @property
    def port(self) -> int:
        return self.addr()[1]

    # -- lifecycle

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _reap(self, limit: float) -> int:
        rc = self.proc.wait(timeout(limit))
        if not self.reaped:
            self.reaped = True
            self.exit_codes.append(rc)
        return rc

    def start(self) -> "Daemon":
        """Starts mailprocd and waits until every listener answers 220.
        Picks new ports and retries (up to 5 times) when a port was taken."""
        assert not self.running, "already running"
        binary = program("mailprocd")
        for attempt in range(5):
            self.write_conf()
            self.starts += 1
            with open(self.log_path, "ab") as log:
                log.write(f"---- start #{self.starts} ----\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    [str(binary), "-c", str(self.conf_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=self.dir,
                )
            self.term_sent = self.reaped = False
            try:
                self._wait_listening()
                return self
            except HarnessError:
                if self.proc.poll() is None:
                    self.cleanup(keep_port=True)
                    raise
                rc = self._reap(1)
                if "address already in use" in self.log_text().lower() and attempt < 4:
                    self.listeners = [(p, h, free_port(h)) for p, h, _ in self.listeners]
                    continue
                raise HarnessError(
                    f"mailprocd exited with status {rc} during start-up; log:\n{self.log_tail()}"
                ) from None
        raise HarnessError("unreachable")

    def _probe(self, host: str, port: int) -> bool:
        if self.proc.poll() is not None:
            raise HarnessError(f"mailprocd exited with {self.proc.returncode}")
        try:
            with RawClient(host, port, limit=2.0) as c:
                r = c.reply()
                if r.code != 220:
                    raise HarnessError(f"listener {host}:{port} greeted with {r}")
                c.send(b"QUIT\r\n")
                return True
        except (ConnectionRefusedError, ConnectionResetError, EOFError):
            return False

    def _wait_listening(self) -> None:
        for _proto, host, port in self.listeners:
            try:
                wait_until(
                    lambda: self._probe(host, port),
                    self.START_LIMIT,
                    what=f"a 220 greeting on {host}:{port}",
                )
            except HarnessError as e:
                if self.proc.poll() is not None:
                    raise HarnessError(f"mailprocd exited with {self.proc.returncode}") from None
                raise HarnessError(f"{e}\nlog:\n{self.log_tail()}") from None

    def terminate(self) -> None:
        """Sends SIGTERM, once per run (a later stop() only waits)."""
        if self.running and not self.term_sent:
            self.term_sent = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, check: bool = True) -> int:
        """SIGTERM (unless already sent); waits for the exit (bounded);
        asserts status 0 unless check=False. A no-op once the process has
        been reaped (after kill9, or a previous stop)."""
        if self.proc is None:
            return 0
        if self.reaped:
            return self.proc.returncode
        self.terminate()
        try:
            rc = self._reap(self.STOP_LIMIT)
        except subprocess.TimeoutExpired:
            self.cleanup(keep_port=True)
            raise HarnessError(
                f"mailprocd did not exit within {timeout(self.STOP_LIMIT):.0f}s of SIGTERM;"
                f" log:\n{self.log_tail()}"
            ) from None
        if check and rc != 0:
            raise HarnessError(f"mailprocd exited with {rc} after SIGTERM; log:\n{self.log_tail()}")
        return rc

    def kill9(self) -> None:
        """SIGKILL, as a crash would; waits until it is gone."""
        if self.running:
            self.proc.kill()
        self._reap(10)

    def restart(self) -> "Daemon":
        self.stop()
        return self.start()

    def cleanup(self, keep_port: bool = False) -> None:
        """Last-resort teardown: never leaves a process behind."""
        if self.proc is not None and not self.reaped:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reap(10)
        if not keep_port:
            self.closed_port.close()

    # -- logs

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # -- clients

    def client(self, proto: str = "smtp", source: str | None = None, limit: float = 10.0) -> RawClient:
        host, port = self.addr(proto)
        return RawClient(host, port, source=source, limit=limit)

    def session(self, proto: str = "smtp", source: str | None = None, ehlo: bool = True) -> RawClient:
        """A connected client past the greeting (and EHLO/LHLO if asked)."""
        c = self.client(proto, source)
        c.greeting()
        if ehlo:
            c.ehlo(verb="LHLO" if proto == "lmtp" else "EHLO")
        return c

    def tool(self, program_name: str, *args, limit: float = 30.0) -> subprocess.CompletedProcess:
        """Runs `PROGRAM -c THIS-CONF ARGS...` (mailprocd check/route, mpqueue...)."""
        return run([str(program(program_name)), "-c", str(self.conf_path), *map(str, args)], limit=limit)

    def queued_ids(self) -> set:
        return queued_ids(self.spool)

    def message(self, qid: str) -> QueueFile:
        return load_message(self.spool, qid)


# ---------------------------------------------------------------- external tools


def run(argv, limit: float = 60.0, input: bytes | None = None, cwd=None) -> subprocess.CompletedProcess:
    """Runs a program to completion (bounded); stdout/stderr kept as bytes."""
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout(limit),
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"{argv[0]} did not finish within {timeout(limit):.0f}s: {e.output!r}") from None


def out(proc: subprocess.CompletedProcess) -> str:
    """stdout + stderr of a finished run, decoded, for messages and matching."""
    return (proc.stdout or b"").decode("utf-8", "replace") + (proc.stderr or b"").decode("utf-8", "replace")


def swaks(*args, limit: float = 30.0) -> subprocess.CompletedProcess:
    require_tool(SWAKS, "swaks")
    return run([SWAKS, "--timeout", str(int(timeout(10))), *map(str, args)], limit=limit)


def swaks_queue_ids(proc: subprocess.CompletedProcess) -> list:
    return QUEUED_AS.findall(out(proc))


def make_cert(directory) -> tuple:
    """A self-signed RSA certificate for CN=localhost: (cert path, key path),
    both world-readable (a throw-away test key; the daemon may read it after
    dropping privileges)."""
    require_tool(OPENSSL, "openssl")
    d = Path(directory)
    cert, key = d / "cert.pem", d / "key.pem"
    r = run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "2", "-keyout", str(key), "-out", str(cert)],
        limit=60,
    )
    if r.returncode != 0:
        raise HarnessError(f"openssl req failed: {out(r)}")
    cert.chmod(0o644)
    key.chmod(0o644)
    return cert, key


def client_tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def build_message(subject: str = "test", body=b"hello\r\n", sender: str = "a@example.com",
                  to: str = "b@example.net", extra: bytes = b"") -> bytes:
    """An RFC 5322 message with CRLF line ends; body lines as given (bytes)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    head = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n").encode("utf-8") + extra
    return head + b"\r\n" + body


def assert_stored(d: "Daemon", qid: str, content: bytes) -> QueueFile:
    """Message `qid` is queued, parses, and its content is one Received:
    header followed by exactly `content`."""
    qf = d.message(qid)
    received, rest = split_received(qf.content)
    if rest != content:
        raise AssertionError(
            f"stored content of {qid} differs from what was sent\n"
            f"sent:   {content[:600]!r}\nstored: {rest[:600]!r}\n(lengths {len(content)} vs {len(rest)})"
        )
    return qf
