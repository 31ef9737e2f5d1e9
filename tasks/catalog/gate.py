"""The new-build gate: may a new server be built with this version today?

A build passes when its version is itself approved and compliant (the approved release, or an approved one
at most ``max_behind`` behind it). Anything else fails with one line that says what is approved instead.
Shared by ``dbpatch check-build`` and the ``check_build`` flow so both answer the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from dbpatch.models import Engine, Policy, StrictModel, Version
from tasks.catalog.approval import find_baseline, is_approved
from tasks.catalog.catalog import Catalog
from tasks.catalog.compliance import Assessment, ComplianceStatus, assess


class BuildSpec(StrictModel):
    """A small YAML build spec (``--spec FILE``): what a pipeline is about to build."""

    engine: Engine = Field(description="Database engine.")
    version: Version = Field(description="Version the build installs, e.g. 15.20 or 16.0.4265.3.")
    name: str | None = Field(default=None, description="Optional build or image name, for the message.")


@dataclass(frozen=True)
class BuildDecision:
    """The gate's answer: ``passed`` plus one line saying why."""

    engine: Engine
    version: str
    passed: bool
    reason: str
    assessment: Assessment

    def as_dict(self) -> dict[str, Any]:
        a = self.assessment
        return {
            "engine": self.engine.value,
            "version": self.version,
            "major": a.major,
            "approved": self.passed,
            "approved_version": a.approved,
            "status": a.status.value,
            "reason": self.reason,
            "sentence": a.sentence,
            "as_of": a.on.isoformat() if a.on else None,
        }


def _why_not(policy: Policy, a: Assessment) -> str:
    approved = f"approved is {a.approved}" if a.approved else "nothing is approved"
    baseline = find_baseline(policy, a.engine, a.major) if a.major else None
    unit = a.behind_unit + ("s" if a.releases_behind != 1 else "")
    details = {
        ComplianceStatus.BEHIND: f"{approved} ({a.releases_behind} {unit} behind; the policy allows "
        f"{baseline.max_behind if baseline else 0})",
        ComplianceStatus.COMPLIANT: f"{approved} ({a.version} is within max_behind but not approved itself)",
        ComplianceStatus.AHEAD: f"{approved} ({a.version} is newer and not approved yet)",
        ComplianceStatus.UNAPPROVED: f"{approved} ({a.version} is not a known release)",
        ComplianceStatus.REJECTED: f"rejected by the policy; {approved}",
    }
    return details.get(a.status, a.sentence)


def decide_build(
    policy: Policy, catalog: Catalog, engine: Engine, version: str, on: dt.date
) -> BuildDecision:
    """Gate one build of ``engine`` ``version`` on day ``on``."""
    engine = Engine(engine)
    a = assess(policy, catalog, engine, version, on)
    passed = a.status is ComplianceStatus.COMPLIANT and is_approved(policy, catalog, engine, a.version, on)
    if passed:
        reason = f"{engine} {a.version} is approved: {a.sentence}"
    else:
        reason = f"{engine} {a.version} is not approved: {_why_not(policy, a)}"
    return BuildDecision(engine, a.version, passed, reason, a)
