"""Session fixtures: an isolated dbpatch home, a Prefect test harness, and a lab of REAL PostgreSQL servers.

The test lab lives under /var/tmp (pytest's own tmp dirs are 0700, which the unprivileged user running the
servers cannot enter) on its own ports, so it never touches a lab started by ``dbpatch demo``.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# `dbpatch patch` asks before prod and keeps to the policy's windows; the suite's patch runs (and the crash
# harness's child processes, which inherit this environment) are pipelines on a test lab: --yes,
# --ignore-windows. tests/flows/test_cli_guards.py unsets both to test the guards themselves.
os.environ.setdefault("DBPATCH_ASSUME_YES", "1")
os.environ.setdefault("DBPATCH_IGNORE_WINDOWS", "1")

_HOME = Path(tempfile.mkdtemp(prefix="dbpatch-test-", dir="/var/tmp"))
_HOME.chmod(0o755)
os.environ["DBPATCH_HOME"] = str(_HOME)
os.environ["DBPATCH_REPORTS"] = str(_HOME / "reports")


def _free_base_port(span: int = 20) -> int:
    """A free range of ports, starting at a random place so parallel test sessions rarely collide."""
    first = 55400 + span * random.randrange(0, 220)
    for base in [*range(first, 60000, span), *range(55400, first, span)]:
        ok = True
        for port in range(base, base + span):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range for the test lab")


@pytest.fixture(scope="session")
def dbpatch_home() -> Path:
    return _HOME


@pytest.fixture(scope="session", autouse=True)
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def lab(prefect_harness, dbpatch_home):
    """The lab fleet, brought up once per session from the registry builds; destroyed afterwards."""
    from lab.lab import Lab

    lab = Lab(root=dbpatch_home / "lab", base_port=_free_base_port(), mongo=False)  # MongoDB: tests/mongodb*
    lab.up()
    lab.save_blocks()
    yield lab
    lab.down(destroy=True)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)
