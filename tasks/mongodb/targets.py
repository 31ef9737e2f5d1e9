"""What a replica set is patched to, and the checks only a patch run makes: the major rule, approval, availability
from each member's package source, the FCV for this step, and that the inventory covers the whole set."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dbpatch.errors import NotSupported
from tasks.mongodb.checks import check_major_step
from tasks.mongodb.facts import MemberState, MongoFacts, series_of
from tasks.patching import CheckResult

SERIES_RE = re.compile(r"^\d+\.\d+$")


def series_key(series: str) -> tuple[int, ...]:
    return tuple(int(p) for p in series.split("."))


@dataclass(frozen=True)
class Goal:
    """The series a set runs, the one it goes to, and the exact version (None when nothing is approved)."""

    current: str
    series: str
    version: str | None
    approved: str | None
    checks: tuple[CheckResult, ...]
    refused: str | None = None  # one line: the request is outside what dbpatch does (e.g. 6.0 → 8.0)

    @property
    def major(self) -> bool:
        return self.series != self.current


def resolve(
    cluster: str, versions: Sequence[str], requested: str | None, approved_for: Callable[[str], str | None]
) -> Goal | None:
    """The goal for a set running ``versions`` (None when no member answered).

    ``requested`` is an exact version ("8.0.29") or a series ("8.0": its approved release); the current series is
    the lowest one running, so a roll that was interrupted half-way resumes with the same request.
    """
    if not versions:
        return None
    current = min((series_of(v) for v in versions), key=series_key)
    wanted = series_of(requested) if requested else current
    try:
        step = check_major_step(current, wanted, cluster)
    except NotSupported as exc:
        refused = CheckResult("major_step", cluster, False, current, wanted, str(exc))
        return Goal(current, wanted, None, None, (refused,), refused=str(exc))
    approved = approved_for(wanted)
    version = approved if requested is None or SERIES_RE.match(requested) else requested
    if version is None:
        sentence = f"no approved MongoDB {wanted} release in the policy"
    elif version == approved:
        sentence = f"target {version} is the approved MongoDB {wanted} release"
    else:
        sentence = f"target {version} is not approved (approved MongoDB {wanted}: {approved or 'none'})"
    approval = CheckResult("version_approved", cluster, version is not None and version == approved, version,
                           approved, sentence)  # fmt: skip
    return Goal(current, wanted, version, approved, (step, approval))


def check_available(available: Mapping[str, list[str]], version: str) -> list[CheckResult]:
    """Each member's package source offers ``version`` (``available``: target name → installable versions)."""
    out = []
    for node, offered in available.items():
        ok = version in offered
        detail = (
            "is installable" if ok else f"is not offered (offered: {', '.join(offered[-5:]) or 'nothing'})"
        )
        out.append(CheckResult("version_available", node, ok, version, "offered by the package source",
                               f"{node}: {version} {detail}"))  # fmt: skip
    return out


def check_rollback_available(
    facts: Sequence[MongoFacts], available: Mapping[str, list[str]]
) -> list[CheckResult]:
    """Automatic rollback reinstalls the running version: each member's package source must still offer it."""
    out = []
    for f in facts:
        if not f.reachable or not f.version:
            continue
        ok = f.version in available.get(f.target, [])
        detail = "is possible" if ok else "is impossible: the package source no longer offers it"
        out.append(CheckResult("rollback_available", f.target, ok, f.version, "offered by the package source",
                               f"{f.target}: rollback to {f.version} {detail}"))  # fmt: skip
    return out


def set_fcv(facts: Sequence[MongoFacts]) -> str | None:
    """The set's featureCompatibilityVersion, as the primary reports it (else any member)."""
    reachable = [f for f in facts if f.reachable and f.fcv]
    primary = next((f.fcv for f in reachable if f.state is MemberState.PRIMARY), None)
    return primary or next((f.fcv for f in reachable), None)


def check_fcv_for(cluster: str, facts: Sequence[MongoFacts], goal: Goal, held: str | None) -> CheckResult:
    """FCV equals the series the binaries run; a major step needs FCV at the old series and keeps it there.

    ``held`` is the old FCV a recorded major roll keeps during its burn-in: patching inside the new series is
    allowed then. Any other mismatch means the last upgrade was not finished.
    """
    running = sorted({f.series for f in facts if f.reachable and f.series}, key=series_key)
    fcv = set_fcv(facts)
    threshold = goal.current
    if not running or fcv is None:
        return CheckResult(
            "fcv", cluster, False, fcv, threshold, f"{cluster}: featureCompatibilityVersion could not be read"
        )
    stray = [s for s in running if s not in (goal.current, goal.series)]
    if stray:
        return CheckResult("fcv", cluster, False, fcv, threshold,
                           f"{cluster}: members run {', '.join(running)}, not only {goal.current}"
                           + (f" → {goal.series}" if goal.major else ""))  # fmt: skip
    if fcv == goal.current:
        if goal.major:
            sentence = f"{cluster}: FCV {fcv}; binaries go {goal.current} → {goal.series}, FCV stays {fcv} until raise_fcv"
        else:
            sentence = f"{cluster}: featureCompatibilityVersion {fcv} matches the binaries"
        return CheckResult("fcv", cluster, True, fcv, threshold, sentence)
    if not goal.major and held == fcv:
        return CheckResult("fcv", cluster, True, fcv, held,
                           f"{cluster}: FCV {fcv} held after the roll to {goal.series} (raise_fcv after the burn-in)")  # fmt: skip
    return CheckResult(
        "fcv", cluster, False, fcv, threshold,
        f"{cluster}: featureCompatibilityVersion is {fcv} but members run {goal.current}: "
        "finish the last upgrade (setFeatureCompatibilityVersion) first",
    )  # fmt: skip


def check_covers_set(cluster: str, facts: Sequence[MongoFacts]) -> CheckResult:
    """Every member of the set is an inventory target (else the set could not end on one version), and there is
    more than one member (a rolling patch needs a secondary to hand over to)."""
    answered = [f for f in facts if f.reachable and f.members]
    view = next((f for f in answered if f.state is MemberState.PRIMARY), answered[0] if answered else None)
    if view is None:
        return CheckResult("inventory_covers_set", cluster, False, None, "all members",
                           f"{cluster}: no member answered replSetGetStatus")  # fmt: skip
    known = {f.me for f in facts if f.me}
    missing = [m.name for m in view.members if m.name not in known]
    total = len(view.members)
    if missing:
        return CheckResult("inventory_covers_set", cluster, False, f"{total - len(missing)}/{total}", "all members",
                           f"{cluster}: members not in the inventory: {', '.join(missing)}")  # fmt: skip
    if total < 2:
        return CheckResult("inventory_covers_set", cluster, False, "1/1", "2+ members",
                           f"{cluster}: a single-member set has no secondary to hand over to (not automated)")  # fmt: skip
    return CheckResult("inventory_covers_set", cluster, True, f"{total}/{total}", "all members",
                       f"{cluster}: all {total} members are in the inventory")  # fmt: skip
