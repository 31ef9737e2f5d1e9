"""The catalog flows under the session's Prefect test harness (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt

from prefect.states import Failed

from dbpatch.models import Engine
from flows.catalog import RefreshParams, check_build, is_transient, refresh_catalog
from tasks.catalog import SourceUnavailable, load_catalog


def test_check_build_flow_returns_the_decision(write_policy):
    path = write_policy({"postgresql": {"15": {"approved": ["15.20"]}}})
    ok = check_build(Engine.POSTGRESQL, "15.20", str(path), on=dt.date(2026, 11, 24))
    assert ok["approved"] is True and ok["approved_version"] == "15.20"
    no = check_build(Engine.POSTGRESQL, "15.5", str(path), on=dt.date(2026, 11, 24))
    assert no["approved"] is False and no["reason"].startswith(
        "postgresql 15.5 is not approved: approved is 15.20"
    )


def test_refresh_flow_writes_the_overlay(home, fake_api):
    fake_api.routes["/api/postgresql.json"] = (
        200,
        [
            {
                "cycle": "17",
                "releaseDate": "2024-09-26",
                "eol": "2029-11-08",
                "latest": "17.12",
                "latestReleaseDate": "2026-11-13",
            }
        ],
    )
    result = refresh_catalog(RefreshParams(base_url=fake_api.url, engines=[Engine.POSTGRESQL]))
    assert result["added"] == ["postgresql 17.12"]
    assert load_catalog(home).release(Engine.POSTGRESQL, "17.12").date == dt.date(2026, 11, 13)


def test_only_transient_source_errors_are_retried():
    assert is_transient(None, None, Failed(data=SourceUnavailable("u", "HTTP 503", transient=True)))
    assert not is_transient(None, None, Failed(data=SourceUnavailable("u", "HTTP 404", transient=False)))
    assert not is_transient(None, None, Failed(data=ValueError("malformed")))
