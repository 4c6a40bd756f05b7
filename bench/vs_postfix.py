#!/usr/bin/python3
"""End-to-end relay benchmark: smtp-source -> MTA -> smtp-sink, mailprocd beside Postfix.

Both MTAs relay every message to the same smtp-sink on loopback; the rate is
messages per second from the first connection until the MTA's queue is empty
again (every message handed on). Prints both rates and the ratio, mailprocd's
CPU time per message, and its RSS with 1,000 idle connections.

Run as root (Postfix needs it): `make bench` or `bench/vs_postfix.py [-n 5000]`.
Nothing here is a test: numbers are measured, never asserted.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("MP_BIN", os.path.join(os.path.dirname(__file__), "..", "build", "bin"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def queue_count(dirs):
    n = 0
    for d in dirs:
        for _root, _dirs, files in os.walk(d):
            n += len(files)
    return n


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def smtp_source(port, count, sessions, size):
    start = time.monotonic()
    subprocess.run(["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size),
                    "-f", "bench@example.com", "-t", "sink@example.net", f"127.0.0.1:{port}"],
                   check=True, stdout=subprocess.DEVNULL)
    return start


def run_mailprocd(work, sink_port, args):
    port = free_port()
    conf = os.path.join(work, "mailprocd.conf")
    with open(conf, "w") as f:
        f.write(f"listen = 127.0.0.1:{port}\nspooldir = spool\nrelayhost = 127.0.0.1:{sink_port}\n"
                f"user = nobody\nmyhostname = bench.test\nlog = {work}/mailprocd.log\n"
                f"max_connections_per_ip = 2000\nmax_connections = 2000\n")
    proc = subprocess.Popen([os.path.join(BIN, "mailprocd"), "-c", conf])
    try:
        wait_for(lambda: listening(port), 20, "mailprocd to listen")
        spool = os.path.join(work, "spool")
        dirs = [os.path.join(spool, q) for q in ("incoming", "active", "deferred")]
        cpu0 = cpu_seconds(proc.pid)
        start = smtp_source(port, args.messages, args.sessions, args.size)
        accepted = time.monotonic()
        wait_for(lambda: queue_count(dirs) == 0, 600, "mailprocd's queue to drain")
        end = time.monotonic()
        cpu = cpu_seconds(proc.pid) - cpu0
        deferred = queue_count([os.path.join(spool, "deferred")])
        # 1,000 idle connections: RSS once they are all greeted.
        socks = []
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", port))
            socks.append(s)
        for s in socks:
            s.recv(512)
        rss = rss_kib(proc.pid)
        for s in socks:
            s.close()
        return {"rate": args.messages / (end - start), "accept_rate": args.messages / (accepted - start),
                "cpu_ms": 1000 * cpu / args.messages, "rss_idle_mib": rss / 1024, "deferred": deferred}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def run_postfix(work, sink_port, args):
    conf_dir = os.path.join(work, "postfix")
    os.makedirs(conf_dir)
    queue = os.path.join(work, "pfqueue")
    data = os.path.join(work, "pfdata")
    os.makedirs(queue)  # `postfix check` wants it to exist
    os.makedirs(data)
    shutil.chown(data, "postfix")
    port = free_port()
    shutil.copy("/etc/postfix/master.cf", conf_dir)
    with open(os.path.join(conf_dir, "main.cf"), "w") as f:
        f.write(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
meta_directory = /etc/postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
myhostname = postfix.bench.test
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink_port}
smtp_dns_support_level = disabled
local_transport = error:no local delivery
maillog_file = {work}/postfix.log
maillog_file_prefixes = {work}
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 100
""")
    pc = ["postconf", "-c", conf_dir]
    subprocess.run(pc + ["-F", "*/*/chroot = n"], check=True)
    subprocess.run(pc + ["-M#", "smtp/inet"], check=True)
    subprocess.run(pc + ["-M", f"127.0.0.1:{port}/inet=127.0.0.1:{port} inet n - n - - smtpd"], check=True)
    subprocess.run(["postfix", "-c", conf_dir, "check"], check=True)
    subprocess.run(["postfix", "-c", conf_dir, "start"], check=True, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: listening(port), 30, "postfix to listen")
        dirs = [os.path.join(queue, q) for q in ("incoming", "active", "deferred", "maildrop")]
        start = smtp_source(port, args.messages, args.sessions, args.size)
        wait_for(lambda: queue_count(dirs) == 0, 900, "postfix's queue to drain")
        end = time.monotonic()
        return {"rate": args.messages / (end - start)}
    finally:
        subprocess.run(["postfix", "-c", conf_dir, "stop"], stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--messages", type=int, default=5000)
    ap.add_argument("-s", "--sessions", type=int, default=50)
    ap.add_argument("-l", "--size", type=int, default=4096)
    ap.add_argument("--no-postfix", action="store_true", help="measure mailprocd only")
    args = ap.parse_args()
    if os.geteuid() != 0 and not args.no_postfix:
        sys.exit("bench: run as root (Postfix needs it), or with --no-postfix")
    work = tempfile.mkdtemp(prefix="mp-bench-")
    os.chmod(work, 0o755)
    sink_port = free_port()
    sink_cmd = ["/usr/sbin/smtp-sink", "-c", f"127.0.0.1:{sink_port}", "1000"]
    if os.geteuid() == 0:
        sink_cmd[1:1] = ["-u", "nobody"]
    sink = subprocess.Popen(sink_cmd, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: listening(sink_port), 10, "smtp-sink")
        mp = run_mailprocd(work, sink_port, args)
        print(f"mailprocd: {mp['rate']:.0f} msg/s end to end (accept {mp['accept_rate']:.0f} msg/s), "
              f"{mp['cpu_ms']:.2f} ms CPU/msg, RSS {mp['rss_idle_mib']:.1f} MiB with 1000 idle connections")
        if not args.no_postfix:
            pf = run_postfix(work, sink_port, args)
            print(f"postfix:   {pf['rate']:.0f} msg/s end to end")
            print(f"ratio:     {mp['rate'] / pf['rate']:.2f}x  (target >= 5x)")
    finally:
        sink.terminate()
        sink.wait()
        if not os.environ.get("MP_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
