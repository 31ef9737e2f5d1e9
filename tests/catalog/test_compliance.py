"""Compliance statuses and sentences on the shipped data with fixed dates."""

from __future__ import annotations

import datetime as dt

import pytest

from dbpatch.models import Engine
from tasks.catalog import ComplianceStatus, assess, cu_level

PG, MONGO, SQL = Engine.POSTGRESQL, Engine.MONGODB, Engine.SQLSERVER
S = ComplianceStatus
D = dt.date
TODAY = D(2026, 11, 24)


@pytest.fixture
def pg15(make_policy):
    return make_policy(
        {
            "postgresql": {
                "15": {"approved": ["15.20"], "rejected": ["15.17"], "approve_after_days": 7},
                "14": {"approve_after_days": 7},
            }
        }
    )


def test_postgresql_14_is_eol_on_2026_11_24(catalog, pg15):
    a = assess(pg15, catalog, PG, "14.24", TODAY)
    assert a.status is S.EOL and a.eol == D(2026, 11, 12)
    assert "end of life on 2026-11-12" in a.sentence and "upgrade" in a.sentence
    assert assess(pg15, catalog, PG, "14.24", D(2026, 11, 12)).status is S.COMPLIANT  # last supported day


def test_eol_wins_even_without_a_baseline(catalog, make_policy):
    assert assess(make_policy({}), catalog, PG, "13.23", TODAY).status is S.EOL


def test_behind_counts_releases_up_to_an_approved_version_outside_the_catalog(catalog, pg15):
    a = assess(pg15, catalog, PG, "15.18", TODAY)
    # 15.19 is in the catalog, 15.20 is approved by the policy only: two releases.
    assert (a.status, a.approved, a.releases_behind, a.latency_days) == (S.BEHIND, "15.20", 2, None)
    assert a.sentence == "15.18 is 2 releases behind approved 15.20"


def test_max_behind_makes_a_lagging_version_compliant(catalog, make_policy):
    policy = make_policy({"postgresql": {"15": {"approved": ["15.20"], "max_behind": 2}}})
    assert assess(policy, catalog, PG, "15.18", TODAY).status is S.COMPLIANT
    assert assess(policy, catalog, PG, "15.17", TODAY).status is S.BEHIND


def test_exact_version_is_compliant_with_latency(catalog, make_policy):
    policy = make_policy({"postgresql": {"16": {"approve_after_days": 7}}})
    a = assess(policy, catalog, PG, "16.15", TODAY)
    released = catalog.release(PG, "16.15").date
    assert (a.status, a.approved, a.releases_behind) == (S.COMPLIANT, "16.15", 0)
    assert a.latency_days == (TODAY - released).days
    assert a.sentence == f"16.15 is the approved version (released {released.isoformat()})"


def test_rejected_running_version(catalog, pg15):
    a = assess(pg15, catalog, PG, "15.17", TODAY)
    assert a.status is S.REJECTED and "rejected" in a.sentence and "15.20" in a.sentence


def test_newer_known_version_is_ahead(catalog, make_policy):
    policy = make_policy({"postgresql": {"16": {"approve_after_days": 7}}})
    a = assess(policy, catalog, PG, "16.15", D(2026, 8, 14))  # approved is still 16.14 that day
    assert (a.status, a.approved) == (S.AHEAD, "16.14")


def test_version_no_source_knows_is_unapproved(catalog, pg15):
    assert assess(pg15, catalog, PG, "15.21", TODAY).status is S.UNAPPROVED
    mongo = assess(
        pg15.model_copy(update={"baselines": {Engine.MONGODB: {"7.0": pg15.baselines[PG]["14"]}}}),
        catalog,
        MONGO,
        "7.0.33",
        TODAY,
    )
    assert mongo.status is S.UNAPPROVED  # a gap in the source (SOURCES.md), not a release we can vouch for


def test_no_baseline_and_unknown(catalog, pg15, make_policy):
    assert assess(pg15, catalog, PG, "16.15", TODAY).status is S.NO_BASELINE
    bad = assess(pg15, catalog, PG, "15.x", TODAY)
    assert bad.status is S.UNKNOWN and bad.major == ""
    aged_only = make_policy({"postgresql": {"15": {"approve_after_days": 7}}})
    early = assess(aged_only, catalog, PG, "15.0", D(2022, 10, 14))  # 15.0 is only days old: nothing approved
    assert (early.status, early.approved) == (S.UNKNOWN, None)


def test_sqlserver_2022_cu20_is_not_compliant_once_cu26_is_approved(catalog, make_policy):
    cu26 = [r for r in catalog.versions(SQL, "16.0") if r.name == "CU26"]
    assert len(cu26) == 1 and cu26[0].date == D(2026, 7, 16)  # read from mssqlserver-builds.json
    cu20 = [r for r in catalog.versions(SQL, "16.0") if r.name == "CU20"][0]
    policy = make_policy({"sqlserver": {"16.0": {"approve_after_days": 7, "max_behind": 1}}})
    on = cu26[0].date + dt.timedelta(days=7)
    a = assess(policy, catalog, SQL, cu20.version, on)
    assert a.status is S.BEHIND and a.approved == cu26[0].version == "16.0.4265.3"
    assert (a.releases_behind, a.behind_unit) == (6, "CU")  # CU21..CU26
    assert "CU20" in a.sentence and "CU26" in a.sentence and "KB5093420" in a.sentence
    # One CU behind (CU25, or CU25 plus its GDR) is within max_behind 1; two is not.
    assert assess(policy, catalog, SQL, "16.0.4255.1", on).status is S.COMPLIANT
    assert assess(policy, catalog, SQL, "16.0.4262", on).status is S.COMPLIANT
    assert assess(policy, catalog, SQL, "16.0.4245.2", on).status is S.BEHIND  # CU24
    # The day before CU26 is approved, CU25+GDR (2026-07-14) is the standard and CU20 is 5 CUs behind.
    before = assess(policy, catalog, SQL, cu20.version, on - dt.timedelta(days=1))
    assert (before.approved, before.releases_behind) == ("16.0.4262.2", 5)


def test_sqlserver_2016_is_eol_after_extended_support(catalog, make_policy):
    a = assess(
        make_policy({"sqlserver": {"13.0": {"approve_after_days": 7}}}), catalog, SQL, "13.0.6500.1", TODAY
    )
    assert a.status is S.EOL and a.eol == D(2026, 7, 14) and "2029-07-17" in a.sentence  # ESU end


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("CU14", (0, 14)),
        ("CU14+GDR", (0, 14)),
        ("SP2 CU17+GDR", (2, 17)),
        ("GDR", (0, 0)),
        ("SP3", (3, 0)),
        (None, None),
    ],
)
def test_cu_level(name, level):
    assert cu_level(name) == level


def test_assessment_as_dict_is_json_ready(catalog, pg15):
    d = assess(pg15, catalog, PG, "14.24", TODAY).as_dict()
    assert d["status"] == "eol" and d["engine"] == "postgresql" and d["eol"] == "2026-11-12"
