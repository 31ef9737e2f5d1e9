"""Approval rules: which releases of a major a policy approves on a given day.

A version is approved on day D when it is not rejected, existed on D (release date on or before D, when
known) and either is listed in ``approved``, or was released at least ``approve_after_days`` days before D
(and on or before ``approve_until_date``), or passed a canary wave on or before D with
``approve_on_canary``. The approved release is the newest approved one. Everything takes D as a parameter,
so "approved as of D" is computable for any past or future day.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from dbpatch.errors import ConfigError
from dbpatch.models import Baseline, Engine, Policy
from tasks.catalog.catalog import Catalog, Release
from tasks.catalog.versions import VersionError, canonical, major_of, parse_major, sort_key


class ApprovalReason(StrEnum):
    LISTED = "listed"  # in the baseline's approved list
    AGED = "aged"  # released approve_after_days ago
    CANARY = "canary"  # passed a canary wave


def find_baseline(policy: Policy, engine: Engine, major: str) -> Baseline | None:
    """The baseline for ``major``; policy keys are compared as majors, so SQL Server '2022' matches '16.0'."""
    major = parse_major(engine, major)
    for key, baseline in policy.baselines.get(Engine(engine), {}).items():
        try:
            if parse_major(engine, key) == major:
                return baseline
        except VersionError:
            continue
    return None


def _versions(catalog: Catalog, engine: Engine, major: str, field: str, values: list[str]) -> set[str]:
    """Canonical spellings of a baseline's version list; entries of another major or shape are config errors."""
    out, problems = set(), []
    for i, v in enumerate(values):
        where = f"policy: baselines.{engine}.{major}.{field}[{i}]"
        try:
            if major_of(engine, v) != major:
                problems.append(f"{where}: {v!r} is not a {engine} {major} version")
                continue
        except VersionError:
            problems.append(f"{where}: {v!r} is not a valid {engine} version")
            continue
        out.add(catalog.canonical(engine, v))
    if problems:
        raise ConfigError(problems)
    return out


def approval_reason(
    baseline: Baseline, catalog: Catalog, engine: Engine, release: Release, on: dt.date
) -> ApprovalReason | None:
    """Why ``release`` is approved on ``on`` under ``baseline``, or None when it is not."""
    major = release.major
    if catalog.canonical(engine, release.version) in _versions(
        catalog, engine, major, "rejected", baseline.rejected
    ):
        return None
    if release.date is not None and release.date > on:
        return None  # did not exist yet
    if catalog.canonical(engine, release.version) in _versions(
        catalog, engine, major, "approved", baseline.approved
    ):
        return ApprovalReason.LISTED
    validated = catalog.canary_validated(engine, release.version)
    if baseline.approve_on_canary and validated is not None and validated <= on:
        return ApprovalReason.CANARY
    days = baseline.approve_after_days
    if (
        days is not None
        and release.date is not None
        and not (release.retired or release.prerelease)
        and release.date + dt.timedelta(days=days) <= on
        and (baseline.approve_until_date is None or release.date <= baseline.approve_until_date)
    ):
        return ApprovalReason.AGED
    return None


def is_rejected(policy: Policy, catalog: Catalog, engine: Engine, version: str) -> bool:
    baseline = find_baseline(policy, engine, major_of(engine, version))
    if baseline is None:
        return False
    major = major_of(engine, version)
    return catalog.canonical(engine, version) in _versions(
        catalog, engine, major, "rejected", baseline.rejected
    )


def candidates(baseline: Baseline, catalog: Catalog, engine: Engine, major: str) -> list[Release]:
    """Catalog releases of ``major`` plus listed or canary-validated versions the catalog does not know yet.

    The catalog stops at its snapshot (Aug 2026), but Debian may already ship 15.20: a version the policy
    lists explicitly is still approved, as a Release with no date and source "policy" (or "canary").
    """
    known = catalog.versions(engine, major)
    seen = {r.version for r in known}
    extra: dict[str, Release] = {}
    for v in sorted(_versions(catalog, engine, major, "approved", baseline.approved) - seen):
        extra[v] = Release(Engine(engine), v, None, source="policy")
    if baseline.approve_on_canary:
        for v in catalog.canary_versions(engine):
            if v not in seen and v not in extra and major_of(engine, v) == major:
                extra[v] = Release(Engine(engine), v, None, source="canary")
    return sorted([*known, *extra.values()], key=lambda r: sort_key(engine, r.version))


def approved_releases(
    policy: Policy, catalog: Catalog, engine: Engine, major: str, on: dt.date
) -> list[Release]:
    """Every release of ``major`` approved on ``on``, oldest first (empty without a baseline)."""
    major = parse_major(engine, major)
    baseline = find_baseline(policy, engine, major)
    if baseline is None:
        return []
    return [
        r
        for r in candidates(baseline, catalog, engine, major)
        if approval_reason(baseline, catalog, engine, r, on)
    ]


def approved_release(
    policy: Policy, catalog: Catalog, engine: Engine, major: str, on: dt.date
) -> Release | None:
    """The approved release of ``major`` on ``on``: the newest approved one, or None."""
    approved = approved_releases(policy, catalog, engine, major, on)
    return approved[-1] if approved else None


def is_approved(policy: Policy, catalog: Catalog, engine: Engine, version: str, on: dt.date) -> bool:
    """Whether ``version`` itself is approved on ``on`` (not only compliant)."""
    major = major_of(engine, version)
    baseline = find_baseline(policy, engine, major)
    if baseline is None:
        return False
    release = catalog.release(engine, version) or Release(Engine(engine), canonical(engine, version), None)
    return approval_reason(baseline, catalog, engine, release, on) is not None
