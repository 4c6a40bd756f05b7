"""Every decision of the front end is in the log, in Postfix's shapes (issue 9,
item 1; SPEC: Logs): a refused RCPT is a `NOQUEUE: reject: RCPT from ...` line,
each accepted message logs its Message-ID (`ID: message-id=<...>`, as Postfix's
cleanup does), and the disconnect line counts the commands (`rcpt=1/2`: one of
two succeeded)."""

import re

import mp

OUTSIDE = "127.0.0.2"  # outside mynetworks = 127.0.0.1/32
CONF = {"mynetworks": "127.0.0.1/32", "relay_domains": "example.org"}


def test_reject_message_id_and_disconnect_lines(make_daemon):
    d = make_daemon(CONF)
    content = mp.build_message("logged", extra=b"Message-ID: <log-1@outside.test>\r\n")
    with d.session(source=OUTSIDE) as c:  # EHLO client.test
        replies, final = c.send_message("a@outside.test", ["user@other.net", "user@example.org"],
                                        content, ehlo=False)
        assert [r.code for r in replies] == [250, 554, 250, 354], replies
        assert final.code == 250, final
        assert c.cmd("QUIT").code == 221
    qid = final.queue_id
    peer = f"unknown[{OUTSIDE}]"
    mp.wait_until(lambda: f"disconnect from {peer}" in d.log_text(), 10, what="the disconnect line")
    log = d.log_text()
    assert (f"mailprocd/smtpd[" in log and
            f"NOQUEUE: reject: RCPT from {peer}: 554 5.7.1 <user@other.net>: Relay access denied; "
            f"from=<a@outside.test> to=<user@other.net> proto=ESMTP helo=<client.test>\n" in log), log
    assert re.search(rf"mailprocd/cleanup\[\d+\]: {qid}: message-id=<log-1@outside.test>\n", log), log
    assert (f"disconnect from {peer} ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5/6\n"
            in log), log


def test_helo_session_without_message_id_and_a_bad_command(make_daemon):
    d = make_daemon(CONF)
    with d.session(source=OUTSIDE, ehlo=False) as c:
        assert c.cmd("HELO old.client").code == 250
        assert c.cmd("FROB").code >= 500
        replies, final = c.send_message("a@outside.test", ["x@example.org"], mp.build_message("no id"),
                                        ehlo=False, pipelined=False)
        assert final.code == 250, final
        assert c.cmd("MAIL FROM:<b@outside.test>").code == 250
        assert c.cmd("RCPT TO:<y@elsewhere.test>").code == 554
        assert c.cmd("QUIT").code == 221
    peer = f"unknown[{OUTSIDE}]"
    mp.wait_until(lambda: f"disconnect from {peer}" in d.log_text(), 10, what="the disconnect line")
    log = d.log_text()
    assert f"{final.queue_id}: message-id=<>\n" in log, log
    assert ("NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 554 5.7.1 <y@elsewhere.test>: Relay "
            "access denied; from=<b@outside.test> to=<y@elsewhere.test> proto=SMTP helo=<old.client>\n"
            in log), log
    assert (f"disconnect from {peer} helo=1 mail=2 rcpt=1/2 data=1 quit=1 unknown=0/1 "
            "commands=6/8\n" in log), log
