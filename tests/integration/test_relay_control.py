"""Relay control at RCPT: clients in mynetworks relay anywhere; everyone else
only to relay_domains (`*.x` = subdomains of x only), otherwise
`554 5.7.1 Relay access denied`. Outside clients are simulated by binding the
client socket to 127.0.0.2 (mynetworks = 127.0.0.1/32)."""

import pytest

import mp

OUTSIDE = "127.0.0.2"
CONF = {"mynetworks": "127.0.0.1/32", "relay_domains": "example.org, *.sub.test"}


@pytest.fixture
def relay_daemon(make_daemon):
    return make_daemon(CONF)


@pytest.mark.parametrize(
    "rcpt,allowed",
    [
        ("user@other.net", False),
        ("user@example.org", True),
        ("User@EXAMPLE.ORG", True),
        ("x@a.sub.test", True),
        ("x@deep.a.sub.test", True),
        ("user@sub.test", False),
        ("user@notexample.org", False),
        ("user@example.org.evil.net", False),
    ],
)
def test_rcpt_from_outside_mynetworks(relay_daemon, rcpt, allowed):
    with relay_daemon.session(source=OUTSIDE) as c:
        assert c.cmd("MAIL FROM:<a@outside.test>").code == 250
        r = c.cmd(f"RCPT TO:<{rcpt}>")
        if allowed:
            assert r.code == 250, r
        else:
            assert r.code == 554 and r.enhanced == "5.7.1", r
            assert "relay access denied" in r.text.lower(), r
        assert c.cmd("QUIT").code == 221


def test_outside_client_queues_only_allowed_recipients(relay_daemon):
    content = mp.build_message("mixed")
    with relay_daemon.session(source=OUTSIDE) as c:
        replies, final = c.send_message(
            "a@outside.test", ["user@example.org", "user@other.net", "x@a.sub.test"], content
        )
    assert [r.code for r in replies] == [250, 250, 554, 250, 354], replies
    assert final.code == 250, final
    qf = mp.assert_stored(relay_daemon, final.queue_id, content)
    assert sorted(qf.recipients) == ["user@example.org", "x@a.sub.test"], qf.fields
    assert "127.0.0.2" in mp.split_received(qf.content)[0].decode()


def test_outside_client_with_only_denied_recipients_cannot_send(relay_daemon):
    with relay_daemon.session(source=OUTSIDE) as c:
        replies, final = c.send_message("a@outside.test", ["user@other.net"], mp.build_message())
    assert final is None and replies[-1].code in (503, 554), replies
    assert relay_daemon.queued_ids() == set()


@pytest.mark.parametrize("rcpt", ["user@other.net", "user@sub.test", "user@example.org"])
def test_client_in_mynetworks_relays_anywhere(relay_daemon, rcpt):
    content = mp.build_message("inside")
    with relay_daemon.session(source="127.0.0.1") as c:
        replies, final = c.send_message("a@inside.test", [rcpt], content)
    assert [r.code for r in replies] == [250, 250, 354], replies
    assert final.code == 250, final
    assert mp.assert_stored(relay_daemon, final.queue_id, content).recipients == [rcpt]


def test_swaks_from_outside_denied(relay_daemon):
    r = mp.swaks("--server", f"{relay_daemon.host}:{relay_daemon.port}", "--local-interface", OUTSIDE,
                 "--from", "a@outside.test", "--to", "user@other.net")
    assert r.returncode != 0, mp.out(r)
    assert "554 5.7.1" in mp.out(r), mp.out(r)
    assert relay_daemon.queued_ids() == set()


def test_swaks_from_outside_to_relay_domain(relay_daemon):
    r = mp.swaks("--server", f"{relay_daemon.host}:{relay_daemon.port}", "--local-interface", OUTSIDE,
                 "--pipeline", "--from", "a@outside.test", "--to", "x@a.sub.test")
    assert r.returncode == 0, mp.out(r)
    ids = mp.swaks_queue_ids(r)
    assert len(ids) == 1, mp.out(r)
    assert relay_daemon.message(ids[0]).recipients == ["x@a.sub.test"]


def test_default_mynetworks_is_loopback(daemon):
    # No mynetworks in the config: 127.0.0.0/8 may relay (SPEC default).
    with daemon.session(source=OUTSIDE) as c:
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        r = c.cmd("RCPT TO:<user@other.net>")
        assert r.code == 250, r
