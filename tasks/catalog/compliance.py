"""Compliance: how a running version compares with the approved release on a given day.

Checks run in order and the first that applies decides: unparsable version (UNKNOWN), major past end of
life (EOL: needs an upgrade, not a patch), no baseline (NO_BASELINE), rejected version (REJECTED), nothing
approved yet (UNKNOWN), then the comparison with the approved release: equal or at most ``max_behind``
behind (COMPLIANT), further behind (BEHIND), newer (AHEAD), or a version no source knows (UNAPPROVED).
SQL Server counts distance in cumulative updates, like dbatools ``Test-DbaBuild -MaxBehind 1CU``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from dbpatch.models import Engine, Policy
from tasks.catalog.approval import approved_release, find_baseline, is_approved, is_rejected
from tasks.catalog.catalog import Catalog, Release
from tasks.catalog.versions import VersionError, major_of, sort_key

ENGINE_NAMES = {Engine.POSTGRESQL: "PostgreSQL", Engine.MONGODB: "MongoDB", Engine.SQLSERVER: "SQL Server"}


class ComplianceStatus(StrEnum):
    COMPLIANT = "compliant"
    BEHIND = "behind"
    AHEAD = "ahead"
    UNAPPROVED = "unapproved"
    REJECTED = "rejected"
    EOL = "eol"
    NO_BASELINE = "no_baseline"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Assessment:
    """One running version judged against the policy on one day, with a sentence for people.

    ``releases_behind`` counts releases in (version, approved]; for SQL Server it counts cumulative
    updates (``behind_unit`` says which). ``latency_days`` is how long the approved release has been out.
    """

    engine: Engine
    version: str
    major: str
    status: ComplianceStatus
    approved: str | None
    releases_behind: int | None
    latency_days: int | None
    eol: dt.date | None
    sentence: str
    behind_unit: str = "release"
    on: dt.date | None = None

    @property
    def compliant(self) -> bool:
        return self.status is ComplianceStatus.COMPLIANT

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (enums as values, dates as ISO strings)."""
        out = asdict(self)
        out["engine"] = self.engine.value
        out["status"] = self.status.value
        for key in ("eol", "on"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def cu_level(name: str | None) -> tuple[int, int] | None:
    """(service pack, CU) of a SQL Server servicing name: 'SP2 CU17+GDR' -> (2, 17), 'GDR' -> (0, 0)."""
    if not name:
        return None
    sp = re.search(r"\bSP(\d+)", name)
    cu = re.search(r"\bCU(\d+)", name)
    return (int(sp.group(1)) if sp else 0, int(cu.group(1)) if cu else 0)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _describe(release: Release, on: dt.date) -> str:
    """'15.20 (available 45 days)' or '16.0.4265.3 (CU26, KB5093420, available 131 days)'."""
    parts = [release.name] if release.name else []
    parts += [f"KB{k}" for k in release.kb[:1] if f"KB{k}" not in (release.name or "")]
    if release.date is not None:
        parts.append(f"available {_plural((on - release.date).days, 'day')}")
    return f"{release.version} ({', '.join(parts)})" if parts else release.version


def distance(catalog: Catalog, engine: Engine, version: str, approved: Release, on: dt.date) -> int:
    """Releases (SQL Server: CUs) in (version, approved], counting ``approved`` even when not in the catalog."""
    current = sort_key(engine, version)
    target = sort_key(engine, approved.version)
    if current >= target:
        return 0
    between = [
        r
        for r in catalog.versions(engine, major_of(engine, approved.version))
        if current < sort_key(engine, r.version) <= target and (r.date is None or r.date <= on)
    ]
    if catalog.release(engine, approved.version) is None:
        between.append(approved)
    if Engine(engine) is not Engine.SQLSERVER:
        return len(between)
    known = catalog.release(engine, version)
    mine = cu_level(known.name) if known else None
    levels = {cu_level(r.name) for r in between if r.name}
    if mine is not None:
        levels = {lv for lv in levels if lv is not None and lv > mine}
    unnamed = 1 if any(r.name is None for r in between) else 0  # an unknown build counts as one CU
    return max(1, len(levels) + unnamed)  # any older build is at least one behind


def assess(policy: Policy, catalog: Catalog, engine: Engine, version: str, on: dt.date) -> Assessment:
    """Judge ``version`` of ``engine`` against ``policy`` on day ``on``."""
    engine = Engine(engine)
    unit = "CU" if engine is Engine.SQLSERVER else "release"

    def result(status, sentence, approved=None, behind=None, eol=None, major="", ver=version):
        latency = (on - approved.date).days if approved is not None and approved.date else None
        return Assessment(
            engine,
            ver,
            major,
            status,
            approved.version if approved else None,
            behind,
            latency,
            eol,
            sentence,
            unit,
            on,
        )

    try:
        version = catalog.canonical(engine, version)
        major = major_of(engine, version)
    except VersionError:
        return result(ComplianceStatus.UNKNOWN, f"{engine} version {version!r} is not a valid version")

    info = catalog.major_info(engine, major)
    eol = info.eol if info else None
    product = (info.label if info and info.label else None) or f"{ENGINE_NAMES[engine]} {major}"
    known = catalog.release(engine, version)
    label = known.label() if known else version
    baseline = find_baseline(policy, engine, major)
    approved = approved_release(policy, catalog, engine, major, on) if baseline else None
    behind = distance(catalog, engine, version, approved, on) if approved else None
    common = {"approved": approved, "behind": behind, "eol": eol, "major": major, "ver": version}

    if eol is not None and eol < on:
        esu = (
            f" (extended security updates until {info.esu_end})"
            if info and info.esu_end and info.esu_end >= on
            else ""
        )
        return result(
            ComplianceStatus.EOL,
            f"{label}: {product} reached end of life on {eol}{esu}: needs a major upgrade, not a patch",
            **common,
        )
    if baseline is None:
        return result(
            ComplianceStatus.NO_BASELINE,
            f"{label}: the policy has no baseline for {engine} {major}",
            **common,
        )
    if is_rejected(policy, catalog, engine, version):
        approved_text = f"approved is {approved.label()}" if approved else f"no {product} release is approved"
        return result(
            ComplianceStatus.REJECTED, f"{label} is rejected by the policy ({approved_text})", **common
        )
    if approved is None:
        return result(
            ComplianceStatus.UNKNOWN, f"{label}: no {product} release is approved as of {on}", **common
        )

    current, target = sort_key(engine, version), sort_key(engine, approved.version)
    approved_itself = is_approved(policy, catalog, engine, version, on)
    if current == target:
        since = f" (released {approved.date.isoformat()})" if approved.date else ""
        return result(ComplianceStatus.COMPLIANT, f"{label} is the approved version{since}", **common)
    if known is None and not approved_itself:
        return result(
            ComplianceStatus.UNAPPROVED,
            f"{label} is not a known {ENGINE_NAMES[engine]} release and not approved "
            f"(approved is {approved.label()})",
            **common,
        )
    if current > target:
        return result(
            ComplianceStatus.AHEAD,
            f"{label} is newer than approved {approved.label()} and not approved",
            **common,
        )
    behind = behind or 0
    text = f"{label} is {_plural(behind, unit)} behind approved {_describe(approved, on)}"
    if behind <= baseline.max_behind:
        return result(
            ComplianceStatus.COMPLIANT, f"{text}, within max_behind {baseline.max_behind}", **common
        )
    return result(ComplianceStatus.BEHIND, text, **common)
