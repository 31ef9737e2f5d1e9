"""The lab's simulated replica set under the real Prefect test harness (tests/conftest.py): a fresh lab per test,
MongoDB only (no PostgreSQL nodes), as ``dbpatch lab up`` starts it: a detached ``mongosim serve`` process."""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.lab import LAB_POLICY, Lab
from tests.conftest import _free_base_port


@pytest.fixture
def mongo_lab(prefect_harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    root = Path(tempfile.mkdtemp(prefix="dbpatch-mongo-", dir="/var/tmp"))
    root.chmod(0o755)
    monkeypatch.setenv("DBPATCH_HOME", str(root))  # roll records stay with this lab
    policy = copy.deepcopy(LAB_POLICY)
    policy["baselines"]["mongodb"]["8.0"] = {"approve_after_days": 14}
    policy["thresholds"]["catchup_timeout_seconds"] = 20
    lab = Lab(root=root / "lab", base_port=_free_base_port(), topology=(), policy=policy, mongo=True)
    try:
        lab.up()
        lab.save_blocks()
        yield lab
    finally:
        lab.down(destroy=True)
        shutil.rmtree(root, ignore_errors=True)
