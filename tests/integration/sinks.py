"""Delivery-side helpers for the integration tests (standard library only).

Used by the delivery tests (test_relay_delivery, test_routing,
test_local_delivery, test_retry_ndr, test_delivery_crash) next to mp.py:

  RecordingSink   a scripted SMTP server in a thread: per-RCPT/MAIL/DATA replies
                  can be set (250 for one recipient, 451 then 250 for another,
                  550...), every transaction is recorded (MAIL, RCPTs with the
                  code answered, data bytes after un-stuffing) and connections
                  are counted
  PostfixSink     the real /usr/sbin/smtp-sink with -d: one dump file per message
  daemon log      deliveries(d) parses the Postfix-shaped "ID: to=<r>, relay=...,
                  dsn=..., status=..." lines; wait_removed / wait_status poll them
  NDRs            parse_report(bytes) -> (message, per-message block, [per-recipient])
  fixtures        make_sink, make_postfix_sink (import them into a test module)
  re-exported from delivery_helpers.py: queue files written by hand
  (write_queue_file...), scripts, folders and unix users for local deliveries

Invariants: sinks listen on loopback only, on ports picked here (smtp-sink
retries with another port when its port is taken); every wait is
mp.wait_until (bounded); a sink is always stopped by its owner (fixture,
context manager or stop()).
"""

from __future__ import annotations

import email
import email.policy
import random
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import mp

# Re-exported: the tests use them as sinks.NAME.
from delivery_helpers import (  # noqa: F401
    IS_ROOT,
    RUN_AS,
    UnixUser,
    make_script,
    new_queue_id,
    owned_by_runner,
    queue_file_bytes,
    writable_dir,
    write_queue_file,
)

SMTP_SINK = "/usr/sbin/smtp-sink"

# Test timings: retries come quickly (SPEC keys).
FAST = {"retry_min": "1s", "retry_max": "2s", "queue_run_interval": "1s"}


# ---------------------------------------------------------------- the recording sink


@dataclass
class Transaction:
    conn: int  # index of the connection (0, 1, ...)
    helo: str
    sender: str  # the MAIL FROM address without <>
    mail_params: str
    rcpts: list = field(default_factory=list)  # [(address, code)] for every RCPT, in order
    data: bytes | None = None  # un-stuffed message, CRLF line ends as received
    data_code: int | None = None

    @property
    def accepted(self) -> list:
        return [a for a, code in self.rcpts if code // 100 == 2]

    @property
    def message(self):
        return email.message_from_bytes(self.data or b"", policy=email.policy.compat32)


def _address_arg(arg: str) -> tuple:
    """'FROM:<a@b> SIZE=1' -> ('a@b', 'SIZE=1') (quoted local parts kept)."""
    m = re.match(r"(?i)(?:FROM|TO):\s*<((?:\"(?:[^\"\\]|\\.)*\"|[^>])*)>\s*(.*)$", arg)
    if not m:
        return None, ""
    return m.group(1), m.group(2)


class RecordingSink:
    """A scripted SMTP server on loopback (127.0.0.1, or host="::1").

    Replies: set_rcpt_reply(address, "451 4.3.0 later", "250 2.1.5 ok") answers
    the first RCPT for that address with 451 and every later one with 250 (the
    last reply given sticks); default_rcpt_reply for the others. mail_replies,
    data_replies and greetings work the same way (lists consumed in order, last
    sticks); a greeting that is not 220 is sent and the connection closed.
    drop_in_data = N: the next N DATA phases end with the connection closed
    after the first data line (nothing accepted). data_delay: a slow peer's
    pause before the reply to the final dot; peak_in_data counts how many DATA
    phases ran at once, peak_open_connections how many connections were open at
    once. data_released.clear() holds every reply to the final dot until
    data_released.set() (bounded wait). `extensions` is the EHLO list.
    `errors` collects protocol misuse by the client (commands out of order,
    unknown commands); the make_sink fixture fails the test when it is not empty.
    """

    EXTENSIONS = ("PIPELINING", "SIZE 100000000", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8")

    def __init__(self, name: str = "sink", port: int = 0, host: str = "127.0.0.1"):
        self.name = name
        self.host = host
        self.want_port = port
        self.port = port
        self.lock = threading.Lock()
        self.transactions: list = []  # every transaction that reached MAIL
        self.connections = 0
        self.open_connections = 0  # connections still being served
        self.errors: list = []  # protocol problems seen (bad command order...)
        self.rcpt_replies: dict = {}  # lowercased address -> [replies]
        self.default_rcpt_reply = "250 2.1.5 Ok"
        self.mail_replies = ["250 2.1.0 Ok"]
        self.data_replies = ["250 2.0.0 Ok: queued"]
        self.greetings = [f"220 {name}.sink.test ESMTP recording sink"]
        self.extensions = list(self.EXTENSIONS)
        self.drop_in_data = 0
        self.data_delay = 0.0  # seconds a (slow) peer takes before its reply to the final dot
        self.in_data = 0  # DATA phases in progress now...
        self.peak_in_data = 0  # ...and at most, ever: concurrent deliveries seen
        self.peak_open_connections = 0  # most connections served at once, ever
        self.data_released = threading.Event()  # clear(): each final dot waits until set()
        self.data_released.set()
        self.listener: socket.socket | None = None
        self.threads: list = []
        self.stopping = threading.Event()

    # -- configuration

    def set_rcpt_reply(self, address: str, *replies: str) -> None:
        with self.lock:
            self.rcpt_replies[address.lower()] = list(replies)

    def _next(self, replies: list) -> str:
        return replies.pop(0) if len(replies) > 1 else replies[0]

    # -- lifecycle

    @property
    def hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> "RecordingSink":
        s = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.want_port))
        s.listen(128)
        s.settimeout(0.2)
        self.listener = s
        self.port = s.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for t in list(self.threads):
            t.join(mp.timeout(10))
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                index = self.connections
                self.connections += 1
                self.open_connections += 1
                self.peak_open_connections = max(self.peak_open_connections, self.open_connections)
            t = threading.Thread(target=self._serve, args=(conn, index), name=f"{self.name}-{index}", daemon=True)
            with self.lock:
                self.threads.append(t)
            t.start()

    # -- one connection

    def _serve(self, conn: socket.socket, index: int) -> None:
        conn.settimeout(0.2)
        buf = bytearray()
        deadline_idle = time.monotonic() + mp.timeout(60)

        def read_line():
            nonlocal deadline_idle
            while True:
                i = buf.find(b"\r\n")
                if i >= 0:
                    line = bytes(buf[: i + 2])
                    del buf[: i + 2]
                    return line
                if self.stopping.is_set() or time.monotonic() > deadline_idle:
                    return None
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return None
                if not chunk:
                    return None
                deadline_idle = time.monotonic() + mp.timeout(60)
                buf.extend(chunk)

        def send(line: str) -> None:
            conn.sendall(line.encode("utf-8") + b"\r\n")

        helo = ""
        txn: Transaction | None = None
        try:
            with self.lock:
                greeting = self._next(self.greetings)
            send(greeting)
            if not greeting.startswith("220"):
                return
            while True:
                raw = read_line()
                if raw is None:
                    return
                line = raw[:-2].decode("utf-8", "surrogateescape")
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                if verb == "EHLO":
                    helo, txn = arg, None
                    lines = [f"{self.name}.sink.test"] + list(self.extensions)
                    send("\r\n".join(f"250-{l}" for l in lines[:-1]) + f"\r\n250 {lines[-1]}")
                elif verb == "HELO":
                    helo, txn = arg, None
                    send(f"250 {self.name}.sink.test")
                elif verb == "MAIL":
                    sender, params = _address_arg(arg)
                    if sender is None:
                        send("501 5.5.4 Syntax: MAIL FROM:<address>")
                        continue
                    with self.lock:
                        reply = self._next(self.mail_replies)
                    if reply.startswith("2"):
                        txn = Transaction(conn=index, helo=helo, sender=sender, mail_params=params)
                        with self.lock:
                            self.transactions.append(txn)
                    send(reply)
                elif verb == "RCPT":
                    rcpt, _ = _address_arg(arg)
                    if txn is None or rcpt is None:
                        self.errors.append(f"conn {index}: {line!r} out of order or malformed")
                        send("503 5.5.1 Error: need MAIL command" if txn is None else "501 5.5.4 Syntax")
                        continue
                    with self.lock:
                        replies = self.rcpt_replies.get(rcpt.lower())
                        reply = self._next(replies) if replies else self.default_rcpt_reply
                        txn.rcpts.append((rcpt, int(reply[:3])))
                    send(reply)
                elif verb == "DATA":
                    if txn is None or not txn.accepted:
                        send("554 5.5.1 Error: no valid recipients")
                        continue
                    send("354 End data with <CR><LF>.<CR><LF>")
                    with self.lock:
                        drop = self.drop_in_data > 0
                        self.drop_in_data -= drop
                        self.in_data += 1
                        self.peak_in_data = max(self.peak_in_data, self.in_data)
                    try:
                        if drop:
                            read_line()
                            return  # connection lost inside DATA: nothing accepted
                        data = bytearray()
                        while True:
                            l = read_line()
                            if l is None:
                                return  # connection lost inside DATA: nothing was accepted
                            if l == b".\r\n":
                                break
                            data += l[1:] if l.startswith(b".") else l
                        if self.data_delay:
                            time.sleep(self.data_delay)  # a slow peer, not synchronisation
                        # A held peer: no reply to the final dot until the test releases it.
                        self.data_released.wait(mp.timeout(60))
                        with self.lock:
                            reply = self._next(self.data_replies)
                            txn.data = bytes(data)
                            txn.data_code = int(reply[:3])
                        send(reply)
                        txn = None
                    finally:
                        with self.lock:
                            self.in_data -= 1
                elif verb == "RSET":
                    txn = None
                    send("250 2.0.0 Ok")
                elif verb == "NOOP":
                    send("250 2.0.0 Ok")
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    self.errors.append(f"conn {index}: unexpected command {line!r}")
                    send("502 5.5.2 Error: command not recognized")
        except OSError:
            return
        finally:
            conn.close()
            with self.lock:
                self.open_connections -= 1

    # -- what was received

    def delivered(self) -> list:
        """Transactions whose data was accepted (2xx after the final dot)."""
        with self.lock:
            return [t for t in self.transactions if t.data is not None and t.data_code // 100 == 2]

    def delivered_to(self, address: str) -> list:
        return [t for t in self.delivered() if address.lower() in (a.lower() for a in t.accepted)]

    def wait_delivered(self, count: int, limit: float = 15.0) -> list:
        mp.wait_until(lambda: len(self.delivered()) >= count, limit,
                      what=f"{count} message(s) at sink {self.name} (has {len(self.delivered())})")
        return self.delivered()


# ---------------------------------------------------------------- Postfix's smtp-sink


@dataclass
class SinkDump:
    path: Path
    sender: str
    rcpts: list
    content: bytes  # the message as received, LF line ends (smtp-sink writes LF)


class PostfixSink:
    """/usr/sbin/smtp-sink on 127.0.0.1:PORT, dumping each message into DIR
    (`-d DIR/%H%M%S.`; `-u nobody` when root, so DIR is made writable)."""

    def __init__(self, directory, extra_args=()):
        mp.require_tool(SMTP_SINK, "postfix")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o777)
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path = self.dir.parent / (self.dir.name + ".log")

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _greets(self) -> bool:
        if self.proc.poll() is not None:
            raise mp.HarnessError(f"smtp-sink exited with {self.proc.returncode}: {self.log_text()}")
        try:
            with mp.RawClient("127.0.0.1", self.port, limit=2.0) as c:
                ok = c.reply().code == 220
                c.send(b"QUIT\r\n")
                return ok
        except (ConnectionRefusedError, ConnectionResetError, EOFError):
            return False

    def start(self) -> "PostfixSink":
        for _ in range(5):
            self.port = mp.free_port()
            argv = [SMTP_SINK] + (["-u", "nobody"] if IS_ROOT else [])
            argv += self.extra_args + ["-d", f"{self.dir}/%H%M%S.", f"127.0.0.1:{self.port}", "64"]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            try:
                mp.wait_until(self._greets, 10, what=f"smtp-sink greeting on port {self.port}")
                return self
            except mp.HarnessError:
                self.stop()
                if "in use" not in self.log_text():
                    raise
        raise mp.HarnessError(f"smtp-sink could not start: {self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(mp.timeout(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(mp.timeout(10))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def dumps(self) -> list:
        """Every dump file, parsed. Read once the daemon has logged the
        deliveries (smtp-sink answers the final dot after writing)."""
        out = []
        for path in sorted(self.dir.iterdir()):
            out.append(parse_sink_dump(path))
        return out


def parse_sink_dump(path) -> SinkDump:
    """smtp-sink's dump format: X-* records, its own 3-line Received: header,
    the message, then one extra empty line."""
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    sender, rcpts, i = None, [], 0
    while i < len(lines) and not lines[i].startswith(b"Received: "):
        key, _, value = lines[i].partition(b": ")
        if key == b"X-Mail-Args":
            sender = _address_arg("FROM:" + value.decode("utf-8", "replace"))[0]
        elif key == b"X-Rcpt-Args":
            rcpts.append(_address_arg("TO:" + value.decode("utf-8", "replace"))[0])
        i += 1
    i += 1
    while i < len(lines) and lines[i].startswith(b"\t"):
        i += 1
    content = b"\n".join(lines[i:])
    if not content.endswith(b"\n\n"):
        raise mp.HarnessError(f"{path}: incomplete smtp-sink dump: {data[-80:]!r}")
    return SinkDump(Path(path), sender, rcpts, content[:-1])


def to_lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


# ---------------------------------------------------------------- the daemon's delivery log

DELIVERY_RE = re.compile(
    r"mailprocd/(?P<component>[\w.-]+)\[\d+\]: (?P<id>[0-9A-Z]+): to=<(?P<to>.*?)>"
    r"(?:, orig_to=<(?P<orig_to>.*?)>)?, relay=(?P<relay>[^,]*), delay=[^,]*(?:, delays=[^,]*)?"
    r", dsn=(?P<dsn>[^,]*), status=(?P<status>\w+)(?P<extra>[^(]*?) \((?P<text>.*)\)\s*$"
)


@dataclass
class Delivery:
    id: str
    to: str
    orig_to: str | None
    relay: str
    dsn: str
    status: str  # sent, deferred, bounced, expired
    text: str
    line: str


def deliveries(d: "mp.Daemon", qid: str | None = None, to: str | None = None) -> list:
    """Every delivery line of the daemon's log (all runs), optionally for one
    queue ID and/or one recipient (as logged: the rewritten address)."""
    out = []
    for line in d.log_text().splitlines():
        m = DELIVERY_RE.search(line)
        if not m:
            continue
        e = Delivery(m["id"], m["to"], m["orig_to"], m["relay"], m["dsn"], m["status"], m["text"], line)
        if (qid is None or e.id == qid) and (to is None or e.to.lower() == to.lower()):
            out.append(e)
    return out


def log_has(d: "mp.Daemon", text: str) -> bool:
    return text in d.log_text()


def ndr_ids(d: "mp.Daemon", qid: str) -> list:
    """Queue IDs of the NDRs the log says were made for message `qid`."""
    return re.findall(rf"{qid}: sender non-delivery notification: ([0-9A-Z]+)", d.log_text())


def wait_removed(d: "mp.Daemon", qid: str, limit: float = 15.0, word: str = "removed") -> None:
    """Waits for "ID: removed" (or `word`, e.g. "archived") in the log and the
    file gone from every sub-queue but archive/."""
    live = ("incoming", "active", "deferred", "hold")
    mp.wait_until(
        lambda: f"{qid}: {word}" in d.log_text() and qid not in mp.queued_ids(d.spool, live),
        limit,
        what=f"'{qid}: {word}' in the log and the file out of the queue",
    )


def wait_status(d: "mp.Daemon", qid: str, status: str, to: str | None = None, count: int = 1,
                limit: float = 15.0) -> list:
    """Waits until the log holds `count` delivery lines of `status` for qid (and rcpt)."""
    return mp.wait_until(
        lambda: (lambda got: got if len(got) >= count else None)(
            [e for e in deliveries(d, qid, to) if e.status == status]),
        limit,
        what=f"{count} status={status} line(s) for {qid} {to or ''}",
    )


def wait_queue_empty(d: "mp.Daemon", limit: float = 15.0) -> None:
    live = ("incoming", "active", "deferred", "hold")
    mp.wait_until(lambda: not mp.queued_ids(d.spool, live), limit,
                  what="an empty queue (incoming, active, deferred, hold)")


def send(d: "mp.Daemon", sender: str, rcpts, content: bytes) -> str:
    """One accepted message; returns its queue ID (asserts every reply)."""
    with d.session() as c:
        replies, final = c.send_message(sender, list(rcpts), content)
        c.cmd("QUIT")
    codes = [r.code for r in replies]
    assert codes == [250] + [250] * len(rcpts) + [354], [str(r) for r in replies]
    assert final is not None and final.code == 250, final
    return final.queue_id


def message(subject: str, body: bytes = b"hello\r\n", sender: str = "a@example.com",
            to: str = "b@example.net", extra: bytes = b"") -> bytes:
    """mp.build_message with a unique Message-ID (to find it at a sink)."""
    mid = f"<{subject.replace(' ', '-')}.{time.time_ns()}.{random.randrange(1 << 30)}@test>"
    return mp.build_message(subject, body, sender, to, extra=f"Message-ID: {mid}\r\n".encode() + extra)


def write_map(path, lines) -> Path:
    """A map file (transport, variables, rewrite, users), one entry a line."""
    path = Path(path)
    path.write_text("".join(l + "\n" for l in lines))
    path.chmod(0o644)
    return path


# ---------------------------------------------------------------- NDRs


def parse_report(data: bytes):
    """An RFC 3464 report: (message, per-message block, [per-recipient blocks]).
    Asserts multipart/report; report-type=delivery-status, with one
    message/delivery-status part and the original headers attached
    (text/rfc822-headers or message/rfc822)."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert (msg.get_param("report-type") or "").lower() == "delivery-status", msg["Content-Type"]
    status = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1, [p.get_content_type() for p in msg.walk()]
    blocks = status[0].get_payload()
    assert isinstance(blocks, list) and len(blocks) >= 2, blocks
    kinds = [p.get_content_type() for p in msg.get_payload()]
    assert {"text/rfc822-headers", "message/rfc822"} & set(kinds), f"original not attached: {kinds}"
    return msg, blocks[0], blocks[1:]


def returned_headers(report) -> bytes:
    """The original's headers as attached to a report."""
    for p in report.get_payload():
        if p.get_content_type() == "text/rfc822-headers":
            return p.get_payload(decode=True)
        if p.get_content_type() == "message/rfc822":
            return p.get_payload()[0].as_bytes()
    raise AssertionError("no original headers in the report")


def field_value(block, name: str) -> str:
    """A DSN field without its type prefix ('rfc822; a@b' -> 'a@b')."""
    v = block.get(name)
    assert v is not None, f"no {name}: in {block.items()}"
    v = " ".join(str(v).split())
    return v.split(";", 1)[1].strip() if ";" in v else v


# ---------------------------------------------------------------- fixtures (import them into a test module)

@pytest.fixture
def make_sink():
    """factory(name="sink", port=0, start=True, host="127.0.0.1") -> a (started)
    RecordingSink, stopped at teardown."""
    made = []

    def factory(name: str = "sink", port: int = 0, start: bool = True, host: str = "127.0.0.1") -> RecordingSink:
        s = RecordingSink(name, port, host)
        made.append(s)
        return s.start() if start else s

    yield factory
    for s in made:
        s.stop()
    errors = [f"{s.name}: {e}" for s in made for e in s.errors]
    if errors:
        pytest.fail("the daemon misused SMTP at a sink:\n" + "\n".join(errors[:20]), pytrace=False)


@pytest.fixture
def make_postfix_sink(workdir):
    """factory(name="pfsink") -> a started PostfixSink dumping into WORKDIR/NAME."""
    made = []

    def factory(name: str = "pfsink", extra_args=()) -> PostfixSink:
        s = PostfixSink(workdir / name, extra_args)
        made.append(s)
        return s.start()

    yield factory
    for s in made:
        s.stop()
