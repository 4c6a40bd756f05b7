"""smtpd_banner (issue 9, item 6): the text after `220 ` of the SMTP greeting,
with $myhostname filled in; the default is SPEC's `$myhostname ESMTP`."""

import mp


def greeting(d) -> str:
    host, port = d.addr()
    with mp.RawClient(host, port) as c:
        return c.greeting().text


def test_default_banner_is_hostname_esmtp(make_daemon):
    d = make_daemon({"myhostname": "mx.banner.test"})
    g = greeting(d)
    assert g == "mx.banner.test ESMTP", g


def test_configured_banner_expands_myhostname(make_daemon):
    d = make_daemon({"myhostname": "mx.banner.test", "smtpd_banner": "$myhostname ESMTP ready for mail"})
    g = greeting(d)
    assert g == "mx.banner.test ESMTP ready for mail", g
