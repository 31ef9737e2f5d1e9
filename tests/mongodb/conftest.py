"""Fixtures: a simulated replica set in-process (real sockets, real pymongo), driven through ``mongosim ctl``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lab.mongo_replset import SimConfig
from lab.mongo_server import Simulator
from tests.mongodb.helpers import FAST, MongoLab


@pytest.fixture(scope="session")
def prefect_harness():
    """These tests need no Prefect server: skip the session harness the top-level conftest starts."""
    yield


@pytest.fixture(autouse=True)
def dbpatch_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A dbpatch home per test: roll records (``state/mongodb-<cluster>.json``) never leak between tests."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DBPATCH_HOME", str(home))
    return home


@pytest.fixture
def make_mongo_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., MongoLab]]:
    """Start a simulated set at ``version`` (3 members, fast timings); every one is closed after the test."""
    sims: list[Simulator] = []

    def make(version: str = "7.0.12", **config) -> MongoLab:
        state = tmp_path_factory.mktemp("ms")
        sim = Simulator(
            SimConfig(set_name="rs-test", members=3, version=version, **{**FAST, **config}), state
        )
        sims.append(sim.start())
        return MongoLab(sim, str(state))

    yield make
    for sim in sims:
        sim.close()


@pytest.fixture
def mongo_lab(make_mongo_lab: Callable[..., MongoLab]) -> MongoLab:
    return make_mongo_lab()
