"""Real peers for the interop tests (test_dns_mx.py, test_interop.py).

Starters for the programs mailproc talks to in production, each run as a
private instance in the test's folder, on loopback, on ports picked here:

  DnsServer     ldns-testns answering from a Zone (MX, A, AAAA, null MX,
                NXDOMAIN, SERVFAIL); BlackholeDns: a UDP port that never answers
  Postfix       a private Postfix (root): local delivery to a Maildir
                (home_mailbox), relayhost to any [host]:port, STARTTLS both ways
  Exim          exim4 from a `dpkg -x`'d .deb (root): Maildir delivery for its
                local domains, manualroute relay of the rest to a host:port
  Dovecot       dovecot-lmtpd: LMTP on 127.0.0.1:PORT and on a unix socket,
                storing into DIR/mail/USER/Maildir
  same_port_sinks  RecordingSinks on several 127.0.0.x addresses sharing one
                port (MX tests set `smtp_port` to it); ReservedPort: a "down" host

Invariants: every peer listens on 127.0.0.0/8 only (ldns-testns binds 0.0.0.0,
so it is only ever queried on 127.0.0.1); every wait is mp.wait_until
(bounded); every peer is stopped by the fixture that made it, even when the
test fails, by its own pid (never by name). Peers that need root, or a .deb
that cannot be fetched, make the test skip with the reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
from pathlib import Path

import pytest

import mp
import sinks

IS_ROOT = os.geteuid() == 0
LDNS_TESTNS = "/usr/bin/ldns-testns"
DOVECOT = "/usr/sbin/dovecot"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"

QTYPES = {"A": 1, "MX": 15, "AAAA": 28, "SOA": 6}
RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN"}


def need_root(what: str) -> None:
    if not IS_ROOT:
        pytest.skip(f"{what} needs root (run the integration tests as root)")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid: int | None, limit: float = 15.0) -> None:
    """SIGTERM, bounded wait, then SIGKILL: for daemons that fork (dovecot, postfix)."""
    if not pid or not _pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        mp.wait_until(lambda: not _pid_alive(pid), limit, what=f"pid {pid} to exit")
    except mp.HarnessError:
        os.kill(pid, signal.SIGKILL)
        mp.wait_until(lambda: not _pid_alive(pid), 10, what=f"pid {pid} to die")
    except ProcessLookupError:
        pass


def stop_popen(proc: subprocess.Popen | None, limit: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(mp.timeout(limit))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(mp.timeout(10))


def read_pid(path) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tail(path, lines: int = 60) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not readable)"


def greets(host: str, port: int, proc: subprocess.Popen | None = None, name: str = "peer") -> bool:
    """True once host:port answers 220 (raises when `proc` has exited)."""
    if proc is not None and proc.poll() is not None:
        raise mp.HarnessError(f"{name} exited with {proc.returncode}")
    try:
        with mp.RawClient(host, port, limit=3.0) as c:
            ok = c.reply().code == 220
            c.send(b"QUIT\r\n")
            return ok
    except (ConnectionRefusedError, ConnectionResetError, EOFError, socket.timeout):
        return False


def submit(host: str, port: int, sender: str, rcpts, content: bytes, lmtp: bool = False) -> None:
    """One message over SMTP (or LMTP) with smtplib; raises unless every recipient is accepted."""
    cls = smtplib.LMTP if lmtp else smtplib.SMTP
    with cls(host, port, local_hostname="client.test", timeout=mp.timeout(15)) as s:
        refused = s.sendmail(sender, list(rcpts), content)
        assert not refused, refused


# ---------------------------------------------------------------- DNS


def _soa_owner(name: str) -> str:
    labels = name.rstrip(".").split(".")
    return ".".join(labels[-2:]) + "."


class Zone:
    """Answers for ldns-testns. Names are absolute without the final dot
    (`pref.test`). Every name mentioned answers MX, A and AAAA queries:
    its records, or NOERROR with no data (and an SOA) for a type it lacks."""

    def __init__(self):
        self.names: dict = {}  # name -> {qtype: [rdata text]}
        self.rcode: dict = {}  # name -> "NXDOMAIN" / "SERVFAIL"

    def _rr(self, name: str, qtype: str, rdata: str) -> "Zone":
        self.names.setdefault(name.lower(), {}).setdefault(qtype, []).append(rdata)
        return self

    def mx(self, domain: str, pref: int, host: str) -> "Zone":
        return self._rr(domain, "MX", f"{pref} {host}.")

    def null_mx(self, domain: str) -> "Zone":
        return self._rr(domain, "MX", "0 .")

    def a(self, name: str, addr: str) -> "Zone":
        return self._rr(name, "A", addr)

    def aaaa(self, name: str, addr: str) -> "Zone":
        return self._rr(name, "AAAA", addr)

    def exists(self, name: str) -> "Zone":
        """A name with no records at all (NOERROR, no data for every type)."""
        self.names.setdefault(name.lower(), {})
        return self

    def nxdomain(self, name: str) -> "Zone":
        self.rcode[name.lower()] = "NXDOMAIN"
        return self

    def servfail(self, name: str) -> "Zone":
        self.rcode[name.lower()] = "SERVFAIL"
        return self

    @staticmethod
    def _entry(name: str, qtype: str, rcode: str, answers=(), authority=()) -> str:
        lines = ["ENTRY_BEGIN", "MATCH opcode qtype qname", "ADJUST copy_id", f"REPLY QR AA {rcode}",
                 "SECTION QUESTION", f"{name}. IN {qtype}", "SECTION ANSWER"]
        lines += [f"{name}. 60 IN {qtype} {r}" for r in answers]
        lines += ["SECTION AUTHORITY"] + list(authority) + ["ENTRY_END", ""]
        return "\n".join(lines)

    def datafile(self) -> str:
        out = ["; written by tests/integration/peers.py", "$TTL 60", ""]
        for name, rcode in self.rcode.items():
            soa = [] if rcode == "SERVFAIL" else [
                f"{_soa_owner(name)} 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"]
            for qtype in ("MX", "A", "AAAA"):
                out.append(self._entry(name, qtype, rcode, authority=soa))
        for name, rrs in self.names.items():
            if name in self.rcode:
                continue
            for qtype in ("MX", "A", "AAAA"):
                answers = rrs.get(qtype, [])
                soa = [] if answers else [
                    f"{_soa_owner(name)} 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"]
                out.append(self._entry(name, qtype, "NOERROR", answers, soa))
        return "\n".join(out) + "\n"


def dns_query(port: int, name: str, qtype: str, limit: float = 2.0):
    """One UDP query to 127.0.0.1:port: (rcode name, answer count), or None on timeout."""
    qid = random.randrange(1 << 16)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", QTYPES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(mp.timeout(limit))
        s.sendto(q, ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(4096)
        except socket.timeout:
            return None
    rid, flags, _qd, an = struct.unpack(">HHHH", data[:8])
    if rid != qid:
        raise mp.HarnessError(f"DNS reply id {rid} != {qid}")
    return RCODES.get(flags & 0xF, str(flags & 0xF)), an


def _free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP on 0.0.0.0 a moment ago (ldns-testns binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("0.0.0.0", 0))
            port = u.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                    t.bind(("0.0.0.0", port))
                return port
            except OSError:
                continue
    raise mp.HarnessError("no port free for both UDP and TCP")


class DnsServer:
    """ldns-testns -p PORT DIR/zone.data, answering `zone`."""

    PROBE = "ready.peers.invalid"

    def __init__(self, directory, zone: Zone):
        mp.require_tool(LDNS_TESTNS, "ldnsutils")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.zone = zone.a(self.PROBE, "127.0.0.1")
        self.data = self.dir / "zone.data"
        self.log_path = self.dir / "ldns-testns.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise mp.HarnessError(f"ldns-testns exited with {self.proc.returncode}: {tail(self.log_path)}")
        return dns_query(self.port, self.PROBE, "A", limit=0.5) is not None

    def start(self) -> "DnsServer":
        self.data.write_text(self.zone.datafile())
        for _ in range(5):
            self.port = _free_udp_tcp_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen([LDNS_TESTNS, "-p", str(self.port), str(self.data)],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            try:
                mp.wait_until(self._ready, 10, what=f"ldns-testns answering on 127.0.0.1:{self.port}")
                return self
            except mp.HarnessError:
                stop_popen(self.proc)
                if "bind" not in tail(self.log_path).lower():
                    raise
        raise mp.HarnessError(f"ldns-testns could not start: {tail(self.log_path)}")

    def stop(self) -> None:
        stop_popen(self.proc)

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)


class BlackholeDns:
    """A UDP port on 127.0.0.1 that receives queries and never answers (and
    refuses TCP): a DNS server that is down or unreachable."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.tcp.bind(("127.0.0.1", self.port))  # bound, never listening: RST
        except OSError:
            pass

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()
        self.tcp.close()


# ---------------------------------------------------------------- sinks on several addresses


class ReservedPort:
    """host:port bound but never listening: connections are refused (a host that is down)."""

    def __init__(self, host: str, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, port))

    def close(self) -> None:
        self.sock.close()


def same_port_sinks(hosts, down=()):
    """(port, {host: started RecordingSink}, [ReservedPort]) — a sink on every
    address in `hosts`, all on one port, and that port held closed on every
    address in `down`. Retries with another port when one is taken."""
    for _ in range(20):
        port = mp.free_port(hosts[0] if hosts else down[0])
        made, held = {}, []
        try:
            for h in hosts:
                made[h] = sinks.RecordingSink(f"sink-{h}", port, h).start()
            for h in down:
                held.append(ReservedPort(h, port))
            return port, made, held
        except OSError:
            for s in made.values():
                s.stop()
            for r in held:
                r.close()
    raise mp.HarnessError(f"no port free on all of {list(hosts) + list(down)}")


# ---------------------------------------------------------------- Postfix


class Postfix:
    """A private Postfix instance in DIR (root only): config DIR/etc, queue
    DIR/queue, log DIR/postfix.log, smtpd on 127.0.0.1:PORT.

    local_domain: mail to USER@local_domain goes to USER's ~/Maildir/
    (home_mailbox); everything else goes to `relayhost` (host:port, sent as
    [host]:port) or bounces. tls: (cert, key) makes smtpd offer STARTTLS;
    smtp_tls_level sets the client's smtp_tls_security_level."""

    def __init__(self, directory, relayhost: str | None = None, local_domain: str | None = None,
                 tls=None, smtp_tls_level: str | None = None, extra: dict | None = None):
        need_root("a private Postfix instance")
        mp.require_tool(POSTFIX, "postfix")
        self.dir = Path(directory)
        self.etc = self.dir / "etc"
        self.queue = self.dir / "queue"
        self.data = self.dir / "data"
        self.log_path = self.dir / "postfix.log"
        self.port = 0
        self.started = False
        host, _, port = (relayhost or "").rpartition(":")
        conf = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "meta_directory": "/etc/postfix",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "postfix.test",
            "mydestination": local_domain or "",
            "mynetworks": "127.0.0.0/8",
            "relayhost": f"[{host}]:{port}" if relayhost else "",
            "smtp_dns_support_level": "disabled",
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.dir,
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "home_mailbox": "Maildir/",
            "local_transport": "local" if local_domain else "error:5.1.1 no local delivery here",
            "default_transport": "smtp" if relayhost else "error:5.4.6 no relayhost",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtputf8_enable": "no",
            "queue_run_delay": "2s",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
        }
        if tls:
            conf.update(smtpd_tls_cert_file=tls[0], smtpd_tls_key_file=tls[1],
                        smtpd_tls_security_level="may", smtpd_tls_loglevel="1",
                        smtpd_tls_received_header="yes")
        if smtp_tls_level:
            conf.update(smtp_tls_security_level=smtp_tls_level, smtp_tls_loglevel="1")
        conf.update(extra or {})
        self.conf = conf

    def _postfix(self, command: str, limit: float = 60) -> None:
        argv = [POSTFIX, "-c", str(self.etc), command]
        r = mp.run(argv, limit=limit)
        if r.returncode != 0:
            # postfix(1) reports to syslog, or to stderr only when that is a terminal.
            again = mp.run(["script", "-qec", " ".join(argv), "/dev/null"], limit=limit)
            raise mp.HarnessError(f"postfix {command} failed: {mp.out(r)}{mp.out(again)}\n{self.log_tail()}")

    def _postconf(self, *args) -> None:
        r = mp.run([POSTCONF, "-c", str(self.etc), *args], limit=30)
        if r.returncode != 0:
            raise mp.HarnessError(f"postconf {' '.join(args)} failed: {mp.out(r)}")

    def start(self) -> "Postfix":
        self.etc.mkdir(parents=True, exist_ok=True)
        self.queue.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data, "postfix")
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in self.conf.items()))
        self._postconf("-F", "*/*/chroot = n")
        self._postconf("-M#", "smtp/inet")
        for attempt in range(3):
            if self.port:
                self._postconf("-MX", f"127.0.0.1:{self.port}/inet")
            self.port = mp.free_port()
            self._postconf("-M", f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - - smtpd")
            self._postfix("check")
            self.started = True  # from here on stop() must run
            self._postfix("start")
            try:
                mp.wait_until(lambda: greets("127.0.0.1", self.port), 30,
                              what=f"Postfix smtpd greeting on 127.0.0.1:{self.port}")
                return self
            except mp.HarnessError:
                self.stop()
                if "in use" not in self.log_text() or attempt == 2:
                    raise mp.HarnessError(f"Postfix did not start:\n{self.log_tail()}") from None
        raise mp.HarnessError("unreachable")

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def master_pid(self) -> int | None:
        return read_pid(self.queue / "pid" / "master.pid")

    def stop(self) -> None:
        if not self.started:
            return
        pid = self.master_pid
        mp.run([POSTFIX, "-c", str(self.etc), "stop"], limit=60)
        stop_pid(pid, limit=20)  # postfix stop only signals the master: wait for it
        self.started = False

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def queue_count(self) -> int:
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _root, _dirs, files in os.walk(self.queue / sub):
                n += len(files)
        return n

    def submit(self, sender: str, rcpts, content: bytes) -> None:
        submit("127.0.0.1", self.port, sender, rcpts, content)


# ---------------------------------------------------------------- .deb peers (Exim)


def _world_reachable(path: Path) -> bool:
    """Every folder from / down to `path` may be traversed by other users."""
    p = path.resolve()
    return all(os.stat(a).st_mode & 0o001 for a in [p, *p.parents])


def _deb_cache() -> Path:
    """Where fetched .debs are kept between runs: BUILD/interop-debs, else /tmp. The
    unpacked peers run as their own users (Exim re-executes itself as Debian-exim), so
    a build folder under a 0700 checkout (/root) is not used."""
    bases = [mp.BIN.parent] if _world_reachable(mp.BIN.parent) else []
    for base in (*bases, Path("/tmp")):
        d = base / ("interop-debs" if base != Path("/tmp") else f"mp-interop-debs-{os.geteuid()}")
        try:
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise mp.HarnessError("no writable cache folder for .deb packages")


def unpacked_deb(name: str, packages) -> Path:
    """`apt-get download PACKAGES` (once) and `dpkg -x` each into CACHE/NAME;
    skips the test with the reason when a package cannot be fetched."""
    cache = _deb_cache()
    root = cache / name
    done = root / ".unpacked"
    if done.exists():
        return root
    for pkg in packages:
        if not glob.glob(str(cache / f"{pkg}_*.deb")):
            r = mp.run(["apt-get", "download", pkg], cwd=cache, limit=300)
            if not glob.glob(str(cache / f"{pkg}_*.deb")):
                pytest.skip(f"cannot fetch the Debian package {pkg} (apt-get download): {mp.out(r)[-300:]}")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for pkg in packages:
        (deb,) = sorted(glob.glob(str(cache / f"{pkg}_*.deb")))[-1:]
        r = mp.run(["dpkg", "-x", deb, str(root)], limit=120)
        if r.returncode != 0:
            raise mp.HarnessError(f"dpkg -x {deb} failed: {mp.out(r)}")
    done.touch()
    return root


EXIM_USER = "Debian-exim"  # compiled into Debian's exim4, looked up before any config is read


class Exim:
    """exim4 -C DIR/exim.conf -bdf from an unpacked exim4-daemon-light (root):
    SMTP on 127.0.0.1:PORT; mail for `local_domains` goes into DIR/mail/Maildir
    (one mailbox for all of them), anything else to `relay_to` (host:port) by
    manualroute. Exim drops root for a -C config, so everything runs as
    Debian-exim and the folders are made for that user."""

    def __init__(self, directory, root: Path, local_domains=("example.org",), relay_to: str | None = None):
        need_root("Exim")
        self.dir = Path(directory)
        self.binary = root / "usr" / "sbin" / "exim4"
        self.spool = self.dir / "spool"
        self.logdir = self.dir / "log"
        self.maildir = self.dir / "mail" / "Maildir"
        self.conf_path = self.dir / "exim.conf"
        self.local_domains = local_domains
        self.relay_to = relay_to
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def write_conf(self) -> None:
        relay_host, _, relay_port = (self.relay_to or "127.0.0.1:0").rpartition(":")
        self.conf_path.write_text(f"""# written by tests/integration/peers.py
exim_path = {self.binary}
primary_hostname = exim.test
spool_directory = {self.spool}
log_file_path = {self.logdir}/%slog
pid_file_path = {self.dir}/exim.pid
local_interfaces = 127.0.0.1
daemon_smtp_ports = {self.port}
host_lookup =
rfc1413_query_timeout = 0s
keep_environment =
tls_advertise_hosts =
domainlist local_domains = {' : '.join(self.local_domains)}
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept

begin routers
local_maildir:
  driver = accept
  domains = +local_domains
  transport = maildir_delivery
relay_onward:
  driver = manualroute
  domains = ! +local_domains
  route_list = * {relay_host}
  self = send
  transport = onward_smtp

begin transports
maildir_delivery:
  driver = appendfile
  directory = {self.maildir}
  maildir_format
  create_directory
  user = {EXIM_USER}
  group = {EXIM_USER}
  return_path_add
  envelope_to_add
onward_smtp:
  driver = smtp
  port = {relay_port}
  hosts_avoid_tls = *

begin retry
* * F,1m,2s
""")

    def start(self) -> "Exim":
        for d in (self.dir, self.spool, self.logdir, self.maildir.parent):
            d.mkdir(parents=True, exist_ok=True)
            shutil.chown(d, EXIM_USER, EXIM_USER)
        self.dir.chmod(0o755)
        for _ in range(5):
            self.port = mp.free_port()
            self.write_conf()
            with open(self.dir / "exim.stderr", "ab") as log:
                self.proc = subprocess.Popen([str(self.binary), "-C", str(self.conf_path), "-bdf", "-q2s"],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            try:
                mp.wait_until(lambda: greets("127.0.0.1", self.port, self.proc, "exim"), 20,
                              what=f"Exim greeting on 127.0.0.1:{self.port}")
                return self
            except mp.HarnessError:
                stop_popen(self.proc)
                if "in use" not in self.log_text():
                    raise mp.HarnessError(f"Exim did not start:\n{self.log_text()}") from None
        raise mp.HarnessError(f"Exim could not start:\n{self.log_text()}")

    def stop(self) -> None:
        stop_popen(self.proc)

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_text(self) -> str:
        parts = []
        for p in sorted(self.logdir.glob("*log")) + [self.dir / "exim.stderr"]:
            try:
                parts.append(f"== {p.name}\n" + p.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@pytest.fixture(scope="session")
def exim_root():
    """The unpacked exim4-daemon-light + exim4-base (session-wide); makes the
    Debian-exim user for the session when it is missing, and removes it after."""
    need_root("Exim")
    root = unpacked_deb("exim4", ["exim4-base", "exim4-daemon-light"])
    r = mp.run(["ldd", str(root / "usr/sbin/exim4")], limit=30)
    if "not found" in mp.out(r):
        pytest.skip(f"exim4's libraries are missing (install libidn12; .ci/install-deps does): {mp.out(r)}")
    made_user = False
    try:
        pwd.getpwnam(EXIM_USER)
    except KeyError:
        r = mp.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", EXIM_USER], limit=30)
        if r.returncode != 0:
            raise mp.HarnessError(f"useradd {EXIM_USER} failed: {mp.out(r)}")
        made_user = True
    yield root
    if made_user:
        mp.run(["userdel", EXIM_USER], limit=30)


# ---------------------------------------------------------------- Dovecot LMTP


class Dovecot:
    """dovecot -c DIR/dovecot.conf with only LMTP: on 127.0.0.1:PORT and on the
    unix socket DIR/lmtp.sock (mode 0666). users=None accepts every local part
    (static userdb); a list accepts only those (passwd-file), so an unknown
    recipient gets a per-recipient 550. Mail for USER goes to
    DIR/mail/USER/Maildir, delivered as nobody."""

    def __init__(self, directory, users=None):
        need_root("Dovecot")
        mp.require_tool(DOVECOT, "dovecot-core")
        if not Path("/usr/lib/dovecot/lmtp").exists():
            raise mp.HarnessError("Dovecot's LMTP server is missing: install dovecot-lmtpd")
        self.dir = Path(directory)
        self.mail = self.dir / "mail"
        self.base = self.dir / "run"
        self.socket = self.dir / "lmtp.sock"
        self.log_path = self.dir / "dovecot.log"
        self.conf_path = self.dir / "dovecot.conf"
        self.users = users
        self.port = 0
        self.pid: int | None = None

    def write_conf(self) -> None:
        if self.users is None:
            userdb = f"driver = static\n  args = uid=nobody gid=nogroup home={self.mail}/%n allow_all_users=yes"
        else:
            pw = pwd.getpwnam("nobody")
            users_file = self.dir / "users"
            users_file.write_text("".join(f"{u}::{pw.pw_uid}:{pw.pw_gid}::{self.mail}/{u}::\n" for u in self.users))
            userdb = f"driver = passwd-file\n  args = {users_file}"
        self.conf_path.write_text(f"""# written by tests/integration/peers.py
base_dir = {self.base}
state_dir = {self.dir}/state
log_path = {self.log_path}
protocols = lmtp
ssl = no
listen = 127.0.0.1
auth_username_format = %Ln
mail_location = maildir:{self.mail}/%n/Maildir
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  {userdb}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.port}
  }}
  unix_listener {self.socket} {{
    mode = 0666
  }}
}}
""")

    def start(self) -> "Dovecot":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.mail.mkdir(exist_ok=True)
        shutil.chown(self.mail, "nobody", "nogroup")
        for _ in range(5):
            self.port = mp.free_port()
            self.write_conf()
            # It daemonizes, and its children keep stdout: a file, not a pipe.
            out = self.dir / "dovecot.stderr"
            with open(out, "ab") as log:
                rc = subprocess.run([DOVECOT, "-c", str(self.conf_path)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, timeout=mp.timeout(30)).returncode
            if rc != 0:
                if "in use" in tail(out) + tail(self.log_path):
                    continue
                raise mp.HarnessError(f"dovecot failed to start ({rc}): {tail(out)}\n{tail(self.log_path)}")
            self.pid = mp.wait_until(lambda: read_pid(self.base / "master.pid"), 10,
                                     what="dovecot's master.pid")
            try:
                mp.wait_until(lambda: greets("127.0.0.1", self.port) and self.socket.exists(), 20,
                              what=f"Dovecot LMTP greeting on 127.0.0.1:{self.port}")
                return self
            except mp.HarnessError:
                self.stop()
                if "in use" not in tail(self.log_path):
                    raise mp.HarnessError(f"Dovecot did not start:\n{tail(self.log_path)}") from None
        raise mp.HarnessError(f"Dovecot could not start:\n{tail(self.log_path)}")

    def stop(self) -> None:
        stop_pid(self.pid or read_pid(self.base / "master.pid"))
        self.pid = None

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def maildir(self, user: str) -> Path:
        return self.mail / user / "Maildir"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)


def wait_with_logs(pred, limit: float, what: str, *peers_):
    """mp.wait_until, and on a timeout the log tails of `peers_` (anything
    with log_tail(), e.g. a Postfix or an mp.Daemon) in the error."""
    try:
        return mp.wait_until(pred, limit, what=what)
    except mp.HarnessError as e:
        logs = "\n".join(f"---- {type(p).__name__} log:\n{p.log_tail()}" for p in peers_)
        raise mp.HarnessError(f"{e}\n{logs}") from None


# ---------------------------------------------------------------- fixtures (import them into a test module)


def _factory(make):
    """(list of made peers, factory(*args) -> make(index, *args).start()); a
    peer is listed before it starts, so a half-started one is stopped too."""
    made = []

    def factory(*args, **kwargs):
        obj = make(len(made), *args, **kwargs)
        made.append(obj)
        return obj.start()

    return made, factory


@pytest.fixture
def make_dns(workdir):
    """factory(zone) -> a started DnsServer in WORKDIR/dnsN."""
    made, factory = _factory(lambda i, zone: DnsServer(workdir / f"dns{i}", zone))
    yield factory
    for s in made:
        s.stop()


@pytest.fixture
def make_postfix(workdir):
    """factory(**Postfix kwargs) -> a started private Postfix in WORKDIR/postfixN."""
    made, factory = _factory(lambda i, **kw: Postfix(workdir / f"postfix{i}", **kw))
    yield factory
    errors = []
    for p in made:
        try:
            p.stop()
        except mp.HarnessError as e:
            errors.append(str(e))
    assert not errors, errors


@pytest.fixture
def make_exim(workdir, exim_root):
    """factory(local_domains=..., relay_to=...) -> a started Exim in WORKDIR/eximN."""
    made, factory = _factory(lambda i, **kw: Exim(workdir / f"exim{i}", exim_root, **kw))
    yield factory
    for e in made:
        e.stop()


@pytest.fixture
def make_dovecot(workdir):
    """factory(users=None) -> a started Dovecot LMTP server in WORKDIR/dovecotN."""
    made, factory = _factory(lambda i, users=None: Dovecot(workdir / f"dovecot{i}", users))
    yield factory
    for dv in made:
        dv.stop()


@pytest.fixture
def unix_user(workdir):
    """A throw-away unix user (root only) with its home in WORKDIR/home."""
    need_root("creating a unix user")
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    home.chmod(0o755)
    user = sinks.UnixUser(home)
    yield user
    user.remove()
