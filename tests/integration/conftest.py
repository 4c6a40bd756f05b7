"""pytest fixtures for mailproc's integration tests (see mp.py).

  workdir         a fresh 0755 temp dir, removed afterwards (MP_KEEP=1 keeps it)
  make_daemon     factory: make_daemon(conf={...}, listeners=[...], start=True)
                  -> mp.Daemon; every daemon made is stopped with SIGTERM at
                  teardown and its exit status 0 is asserted
  daemon          one started daemon with the default configuration
  tls_files       (cert, key) of a fresh self-signed certificate in workdir

When a test fails, the logs of its daemons are attached to the report.
"""

from __future__ import annotations

import pytest

import mp


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, d in enumerate(getattr(item, "_mp_daemons", [])):
            rep.sections.append((f"mailprocd #{i} log ({d.log_path})", d.log_tail(200)))


@pytest.fixture
def workdir():
    path = mp.make_tempdir()
    yield path
    mp.remove_tempdir(path)


@pytest.fixture
def make_daemon(request, workdir):
    daemons = []
    request.node._mp_daemons = daemons

    def factory(conf=None, listeners=(("smtp", "127.0.0.1"),), start=True, name=None):
        d = mp.Daemon(workdir / (name or f"d{len(daemons)}"), conf, listeners)
        daemons.append(d)
        if start:
            d.start()
        return d

    yield factory
    errors = []
    for d in daemons:
        try:
            d.stop(check=True)
        except AssertionError as e:
            errors.append(str(e))
        finally:
            d.cleanup()
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()


@pytest.fixture
def tls_files(workdir):
    return mp.make_cert(workdir)
