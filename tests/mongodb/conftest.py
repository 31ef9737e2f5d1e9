"""Fixtures: a simulated replica set in-process (real sockets, real pymongo), driven through ``mongosim ctl``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbpatch.lab.mongo_replset import SimConfig
from dbpatch.lab.mongo_server import Simulator
from tests.mongodb.helpers import FAST, MongoLab


@pytest.fixture(scope="session")
def prefect_harness():
    """These tests need no Prefect server: skip the session harness the top-level conftest starts."""
    yield


@pytest.fixture
def mongo_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoLab]:
    state = tmp_path_factory.mktemp("ms")
    sim = Simulator(SimConfig(set_name="rs-test", members=3, version="7.0.12", **FAST), state)
    with sim:
        yield MongoLab(sim, str(state))
