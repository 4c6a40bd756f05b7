"""Issue 9, item 7: outbound SMTP smuggling. A message whose content holds a
stray CR before a dot ("A\\r.\\r\\nMAIL FROM:<x@evil>...", as a BDAT chunk could
bring in) is relayed so that no next hop can end the data early: the stray CR goes
out as a space (Postfix 3.9's cleanup_replace_stray_cr_lf), so the body arrives
as one message and no forged second transaction ever starts.

Peers: Postfix's real smtp-sink (dumps each message; ends lines at LF), and,
because no packaged MTA ends lines at a bare CR, a small lenient server in this
file that ends lines at CR, LF or CRLF alike — the kind of next hop the attack
needs. The content is written into incoming/ as a queue file, so the test does
not depend on what smtpd accepts."""

import socket
import threading
import time

import mp
import sinks
from sinks import make_postfix_sink  # noqa: F401  (fixture)

SMUGGLED = (b"Subject: smuggle\r\nFrom: <s@example.com>\r\n\r\nA\r.\r\n"
            b"MAIL FROM:<x@evil.test>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
            b"Subject: forged\r\n\r\nforged body\r\n.\r\nlast line\r\n")


def queue_smuggled(d, rcpt="r@example.net"):
    d.make_spool()
    qid = sinks.new_queue_id()
    sinks.write_queue_file(d.spool, "incoming", qid,
                           sinks.queue_file_bytes(qid, "s@example.com", [rcpt], SMUGGLED))
    return qid


class LenientPeer:
    """Ends lines at CR, LF or CRLF; records every MAIL command and every message."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.mails, self.messages = [], []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(0.2)
        buf = b""
        deadline = time.monotonic() + mp.timeout(30)

        def lines():
            nonlocal buf
            while time.monotonic() < deadline and not self.stopping.is_set():
                for i, c in enumerate(buf):
                    if c in b"\r\n":
                        end = i + 2 if buf[i:i + 2] == b"\r\n" else i + 1
                        line, buf = buf[:i], buf[end:]
                        yield line
                        break
                else:
                    try:
                        chunk = conn.recv(65536)
                    except socket.timeout:
                        continue
                    if not chunk:
                        return
                    buf += chunk

        with conn:
            conn.sendall(b"220 lenient.test ESMTP\r\n")
            data = None
            for line in lines():
                if data is not None:
                    if line == b".":
                        self.messages.append(b"\n".join(data))
                        data = None
                        conn.sendall(b"250 2.0.0 Ok: queued\r\n")
                    else:
                        data.append(line[1:] if line.startswith(b".") else line)
                    continue
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-lenient.test\r\n250 PIPELINING\r\n")
                elif verb == b"MAIL":
                    self.mails.append(line)
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb in (b"RCPT", b"RSET", b"NOOP"):
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    data = []
                    conn.sendall(b"354 go\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 Bye\r\n")
                    return
                elif line:
                    conn.sendall(b"502 5.5.2 what?\r\n")

    def stop(self):
        self.stopping.set()
        self.thread.join(mp.timeout(5))
        self.listener.close()


def test_real_next_hop_gets_one_message_with_the_dot_stuffed(make_daemon, make_postfix_sink):
    sink = make_postfix_sink("dump")
    d = make_daemon(dict(sinks.FAST, relayhost=sink.hostport), start=False)
    qid = queue_smuggled(d)
    d.start()
    sinks.wait_removed(d, qid)
    (dump,) = sink.dumps()  # one message, no forged second one
    assert dump.sender == "s@example.com" and dump.rcpts == ["r@example.net"], dump
    body = dump.content.split(b"\n\n", 1)[1]
    assert body == (b"A .\nMAIL FROM:<x@evil.test>\nRCPT TO:<victim@example.net>\nDATA\n"
                    b"Subject: forged\n\nforged body\n.\nlast line\n"), body
    assert [e.status for e in sinks.deliveries(d, qid)] == ["sent"]


def test_a_next_hop_ending_lines_at_cr_sees_no_second_transaction(make_daemon):
    peer = LenientPeer()
    try:
        d = make_daemon(dict(sinks.FAST, relayhost=f"127.0.0.1:{peer.port}"), start=False)
        first = queue_smuggled(d)
        d.start()
        sinks.wait_removed(d, first)
        # A second message over the (cached) connection: still in step, sent once.
        second = sinks.send(d, "s@example.com", ["two@example.net"], sinks.message("second"))
        sinks.wait_removed(d, second)
        mp.wait_until(lambda: len(peer.messages) >= 2, 10, what="two messages at the peer")
    finally:
        peer.stop()
    assert [m for m in peer.mails if b"evil" in m] == [], peer.mails
    assert len(peer.mails) == 2 and len(peer.messages) == 2, (peer.mails, peer.messages)
    assert peer.messages[0].split(b"\n\n", 1)[1].startswith(b"A .\nMAIL FROM:<x@evil.test>")
    for qid in (first, second):
        assert [e.status for e in sinks.deliveries(d, qid)] == ["sent"], sinks.deliveries(d, qid)
