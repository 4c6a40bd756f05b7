"""destination_concurrency: at most N deliveries at once to a destination (the
recipient domain for MX delivery), the others wait — not deferred — and start as
a slot frees; a destination with a higher limit gets more at once. Two MX
domains served by held recording sinks on 127.0.0.2 and 127.0.0.3 (one port)."""

import mp
import peers
import sinks
from peers import make_dns  # noqa: F401  (fixture)

SENDER = "alice@sender.test"


def test_destination_concurrency_caps_one_domain(make_daemon, make_dns):
    zone = (peers.Zone().mx("example.com", 10, "mx.example.com").a("mx.example.com", "127.0.0.2")
            .mx("example.net", 10, "mx.example.net").a("mx.example.net", "127.0.0.3"))
    dns = make_dns(zone)
    port, by_host, closed = peers.same_port_sinks(["127.0.0.2", "127.0.0.3"])
    capped, wide = by_host["127.0.0.2"], by_host["127.0.0.3"]
    try:
        for s in (capped, wide):
            s.data_released.clear()
        conf = dict(sinks.FAST, relayhost=None, dns_servers=dns.address, smtp_port=port,
                    destination_concurrency="example.com=2, *=20")
        d = make_daemon(conf)
        qids = []
        for n in range(6):
            for domain in ("example.com", "example.net"):
                rcpt = f"u{n}@{domain}"
                qids.append(sinks.send(d, SENDER, [rcpt], sinks.message(f"conc {n}", sender=SENDER, to=rcpt)))
        # All six to example.net are in DATA at once; example.com holds at two.
        mp.wait_until(lambda: wide.in_data == 6 and capped.in_data == 2, 30,
                      what=f"6 held at example.net (has {wide.in_data}), 2 at example.com (has {capped.in_data})")
        assert capped.peak_open_connections == 2, capped.peak_open_connections
        for s in (capped, wide):
            s.data_released.set()
        for qid in qids:
            sinks.wait_removed(d, qid, limit=30)
        assert len(capped.delivered()) == 6 and len(wide.delivered()) == 6
        assert capped.peak_in_data == 2 and capped.peak_open_connections <= 2, (
            capped.peak_in_data, capped.peak_open_connections)
        assert wide.peak_in_data == 6, wide.peak_in_data
        assert not sinks.log_has(d, "status=deferred")
    finally:
        for s in by_host.values():
            s.data_released.set()
            s.stop()
        for c in closed:
            c.close()
