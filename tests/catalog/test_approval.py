"""Approval rules on the shipped data with fixed dates."""

from __future__ import annotations

import datetime as dt

import pytest

from dbpatch.errors import ConfigError
from dbpatch.models import Baseline, Engine, Policy
from tasks.catalog import (
    ApprovalReason,
    approval_reason,
    approved_release,
    approved_releases,
    find_baseline,
    is_approved,
    load_catalog,
    mark_canary_validated,
)

PG, SQL = Engine.POSTGRESQL, Engine.SQLSERVER
D = dt.date


# From postgresql-releases.json: 16.14 is dated 2026-05-11 and 16.15 2026-08-10 (tag dates).
@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (D(2026, 8, 14), "16.14"),  # 16.15 is 4 days old
        (D(2026, 8, 16), "16.14"),  # 6 days
        (D(2026, 8, 17), "16.15"),  # exactly 7 days: approved
        (D(2026, 8, 20), "16.15"),  # 10 days
        (D(2026, 5, 17), "16.13"),  # 16.14 is 6 days old
    ],
)
def test_approve_after_days_on_real_data(catalog, make_policy, on, expected):
    policy = make_policy({"postgresql": {"16": {"approve_after_days": 7}}})
    approved = approved_release(policy, catalog, PG, "16", on)
    assert approved is not None and approved.version == expected
    assert approved.date == catalog.release(PG, expected).date


def test_approved_as_of_any_day_only_sees_releases_that_existed(catalog, make_policy):
    policy = make_policy({"postgresql": {"16": {"approved": ["16.15"]}}})
    assert approved_release(policy, catalog, PG, "16", D(2026, 8, 9)) is None  # 16.15 is dated 2026-08-10
    assert approved_release(policy, catalog, PG, "16", D(2026, 8, 10)).version == "16.15"


def test_rejected_version_is_never_approved(catalog, make_policy):
    policy = make_policy(
        {"postgresql": {"16": {"approve_after_days": 0, "approved": ["16.15"], "rejected": ["16.15"]}}}
    )
    for day in (D(2026, 8, 10), D(2026, 8, 20), D(2027, 1, 1), D(2030, 1, 1)):
        approved = approved_release(policy, catalog, PG, "16", day)
        assert approved is not None and approved.version == "16.14"
        assert not is_approved(policy, catalog, PG, "16.15", day)
        assert "16.15" not in [r.version for r in approved_releases(policy, catalog, PG, "16", day)]


def test_explicit_approval_outside_the_catalog(catalog, make_policy):
    assert catalog.release(PG, "15.20") is None  # the catalog stops in Aug 2026
    policy = make_policy({"postgresql": {"15": {"approved": ["15.20"], "approve_after_days": 7}}})
    approved = approved_release(policy, catalog, PG, "15", D(2026, 11, 24))
    assert approved is not None
    assert (approved.version, approved.date, approved.source) == ("15.20", None, "policy")


def test_approve_until_date_caps_auto_approval(catalog, make_policy):
    policy = make_policy(
        {"postgresql": {"16": {"approve_after_days": 7, "approve_until_date": "2026-03-01"}}}
    )
    approved = approved_release(policy, catalog, PG, "16", D(2026, 11, 24))
    assert approved.version == "16.13"  # dated 2026-02-23; 16.14 (2026-05-11) is after the cap


def test_no_rules_means_nothing_approved(catalog, make_policy):
    policy = make_policy({"postgresql": {"16": {}}})
    assert approved_release(policy, catalog, PG, "16", D(2026, 11, 24)) is None
    assert approved_release(make_policy({}), catalog, PG, "16", D(2026, 11, 24)) is None


def test_canary_validation_approves_from_that_day(home, make_policy):
    policy = make_policy({"postgresql": {"16": {"approve_after_days": 30, "approve_on_canary": True}}})
    mark_canary_validated(PG, "16.15", D(2026, 8, 12), home=home)
    catalog = load_catalog(home)
    assert approved_release(policy, catalog, PG, "16", D(2026, 8, 11)).version == "16.14"
    approved = approved_release(policy, catalog, PG, "16", D(2026, 8, 12))
    assert approved.version == "16.15"
    baseline = find_baseline(policy, PG, "16")
    assert approval_reason(baseline, catalog, PG, approved, D(2026, 8, 12)) is ApprovalReason.CANARY
    stored = (home / "catalog" / "canary-validated.json").read_text()
    assert '"16.15"' in stored and "2026-08-12" in stored


def test_canary_validation_needs_approve_on_canary(home, make_policy):
    mark_canary_validated(PG, "16.15", D(2026, 8, 12), home=home)
    catalog = load_catalog(home)
    policy = make_policy({"postgresql": {"16": {"approve_after_days": 30}}})
    assert approved_release(policy, catalog, PG, "16", D(2026, 8, 12)).version == "16.14"


def test_canary_validated_version_outside_the_catalog(home, make_policy):
    mark_canary_validated(PG, "15.20", dt.datetime(2026, 11, 20, 14, 30), home=home)
    policy = make_policy({"postgresql": {"15": {"approve_on_canary": True}}})
    approved = approved_release(policy, load_catalog(home), PG, "15", D(2026, 11, 24))
    assert (approved.version, approved.source) == ("15.20", "canary")


def test_retired_sqlserver_build_is_never_auto_approved(catalog, make_policy):
    retired = catalog.release(SQL, "16.0.4235.2")  # CU23, pulled by Microsoft (dated 2026-01-15)
    assert retired.retired
    policy = make_policy({"sqlserver": {"16.0": {"approve_after_days": 0}}})
    approved = approved_release(policy, catalog, SQL, "16.0", retired.date)
    assert approved.version != retired.version
    assert approved.version == "16.0.4230.2"  # CU22+GDR, 2026-01-13: the newest before it


def test_sqlserver_year_key_in_policy(catalog, make_policy):
    policy = make_policy({"sqlserver": {"2022": {"approved": ["16.0.4135"]}}})
    approved = approved_release(policy, catalog, SQL, "16.0", D(2026, 11, 24))
    assert approved.version == "16.0.4135.4" and approved.name == "CU14"


def test_baseline_entry_of_another_major_is_a_config_error(catalog, make_policy):
    # The policy loader refuses this at load (tests/models/corpus.py); this is the guard behind it, for a
    # policy built without validation.
    with pytest.raises(ValueError, match="'16.1' is not a postgresql 15 version"):
        make_policy({"postgresql": {"15": {"approved": ["16.1"]}}})
    policy = Policy.model_construct(baselines={PG: {"15": Baseline(approved=["16.1"])}})
    with pytest.raises(ConfigError) as exc:
        approved_release(policy, catalog, PG, "15", D(2026, 11, 24))
    assert exc.value.problems == [
        "policy: baselines.postgresql.15.approved[0]: '16.1' is not a postgresql 15 version"
    ]
