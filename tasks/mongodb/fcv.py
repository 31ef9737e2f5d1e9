"""Raise a replica set's featureCompatibilityVersion after a major roll: a separate, explicit operation.

``setFeatureCompatibilityVersion`` (with ``confirm: true`` from 7.0 on) runs only when every member runs the new
series AND the burn-in has passed since dbpatch rolled those binaries (``tasks.mongodb.rollstate``). From 7.0 on,
a raised FCV cannot be lowered without MongoDB support, so the burn-in is the last point to roll back cheaply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum

from dbpatch.errors import NotSupported, PatchError
from tasks.mongodb import checks, rollstate
from tasks.mongodb.facts import MemberState, MongoFacts
from tasks.mongodb.node import MongoNode
from tasks.mongodb.targets import series_key, set_fcv
from tasks.patching import CheckResult

DEFAULT_BURN_IN_HOURS = 168.0


class FcvOutcome(StrEnum):
    RAISED = "raised"
    NOOP = "noop"  # FCV already matches the binaries and every check passed
    REFUSED = "refused"  # a check failed; nothing changed
    FAILED = "failed"
    PLANNED = "planned"  # dry run


@dataclass
class FcvRun:
    """What ``raise_fcv`` did to one cluster, with the checks that decided it."""

    cluster: str
    outcome: FcvOutcome
    sentence: str
    series: str | None = None  # the binaries' series: the FCV to reach
    fcv_before: str | None = None
    fcv_after: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    simulated: bool = False

    @property
    def ok(self) -> bool:
        """Raised, nothing to do, or (dry run) would raise, and no check failed: the command exits 0."""
        return self.outcome in (FcvOutcome.RAISED, FcvOutcome.NOOP, FcvOutcome.PLANNED) and all(
            c.ok for c in self.checks
        )


def _check(
    cluster: str, name: str, ok: bool, measured: object, threshold: object, sentence: str
) -> CheckResult:
    return CheckResult(name, cluster, ok, measured, threshold, sentence, "gate")


def _gate(
    cluster: str, facts: list[MongoFacts], burn_in_hours: float, now: dt.datetime
) -> tuple[list[CheckResult], str | None]:
    """Checks before the raise, and the series to raise to (None when the binaries do not agree)."""
    results = [replace(c, phase="gate") for c in (checks.check_members_healthy(facts), checks.check_member_states(facts),
                                                  checks.check_single_primary(facts))]  # fmt: skip
    running = sorted({f.series for f in facts if f.reachable and f.series}, key=series_key)
    unreachable = [f.target for f in facts if not f.reachable]
    one = len(running) == 1 and not unreachable
    if one:
        sentence = f"{cluster}: every member runs {running[0]}"
    else:
        down = f" ({', '.join(unreachable)} unreachable)" if unreachable else ""
        sentence = f"{cluster}: members run {', '.join(running) or 'nothing readable'}{down}: roll the binaries first"
    results.append(
        _check(cluster, "binaries", one, ", ".join(running), "one series on every member", sentence)
    )
    series = running[-1] if running else None
    if series is None:
        return results, None
    fcv = set_fcv(facts)
    if fcv and fcv != series:
        try:
            checks.check_major_step(fcv, series)
            results.append(
                _check(cluster, "fcv_step", True, fcv, series, f"{cluster}: FCV {fcv} → {series} is one step")
            )
        except NotSupported as exc:
            results.append(_check(cluster, "fcv_step", False, fcv, series, f"{cluster}: {exc}"))
    if fcv != series:  # the burn-in guards a raise; with nothing to raise it is no check at all
        results.append(_burn_in(cluster, series, burn_in_hours, now))
    return results, series


def _burn_in(cluster: str, series: str, hours: float, now: dt.datetime) -> CheckResult:
    record = rollstate.load(cluster)
    if record is None or record.series != series:
        ok = hours == 0
        return _check(cluster, "burn_in", ok, None, f"{hours:g} h",
                      f"{cluster}: no roll to {series} recorded by dbpatch"
                      + (": burn-in not required" if ok else ": burn-in cannot be shown (burn-in 0 h overrides)"))  # fmt: skip
    elapsed = (now - record.rolled_at).total_seconds() / 3600
    ends = record.rolled_at + dt.timedelta(hours=hours)
    ok = elapsed >= hours
    sentence = (f"{cluster}: binaries {record.version} rolled {elapsed:.1f} h ago, burn-in {hours:g} h passed" if ok
                else f"{cluster}: binaries {record.version} rolled {elapsed:.1f} h ago; the {hours:g} h burn-in ends "
                     f"{ends.isoformat(timespec='minutes')}")  # fmt: skip
    return _check(cluster, "burn_in", ok, f"{elapsed:.1f} h", f"{hours:g} h", sentence)


def raise_fcv(cluster: str, nodes: list[MongoNode], *, burn_in_hours: float = DEFAULT_BURN_IN_HOURS,
              now: dt.datetime | None = None, dry_run: bool = False) -> FcvRun:  # fmt: skip
    """Raise the FCV of ``cluster`` to the series its binaries run, when the gate allows. Never raises."""
    now = now or dt.datetime.now(dt.UTC)
    simulated = any("simulated" in n.target.tags for n in nodes)
    run = FcvRun(cluster, FcvOutcome.REFUSED, "", simulated=simulated)
    try:
        facts = [n.read() for n in nodes]
        run.fcv_before = run.fcv_after = set_fcv(facts)
        run.checks, run.series = _gate(cluster, facts, burn_in_hours, now)
        failed = [c for c in run.checks if not c.ok]
        already = bool(run.series) and run.fcv_before == run.series
        if already and not failed and all(f.reachable for f in facts):
            run.outcome, run.sentence = FcvOutcome.NOOP, f"featureCompatibilityVersion already {run.series}"
            return run
        if failed or run.series is None:
            why = "; ".join(c.sentence for c in failed) or "the binaries' series could not be read"
            head = (
                f"featureCompatibilityVersion already {run.series}, but"
                if already
                else "refused, nothing changed:"
            )
            run.sentence = f"{head} {why}"
            return run
        primary = next(n for n, f in zip(nodes, facts, strict=True) if f.state is MemberState.PRIMARY)
        command = f"setFeatureCompatibilityVersion {run.series}" + (
            ", confirm: true" if series_key(run.series) >= (7, 0) else ""
        )
        if dry_run:
            run.outcome, run.sentence = (
                FcvOutcome.PLANNED,
                f"would run {command} on {primary.name} (FCV {run.fcv_before})",
            )
            return run
        primary.set_fcv(run.series)
        run.fcv_after = set_fcv([primary.read()])
        if run.fcv_after != run.series:
            run.outcome, run.sentence = (
                FcvOutcome.FAILED,
                f"{command} ran, but the primary reports FCV {run.fcv_after}",
            )
            return run
        record = rollstate.load(cluster)
        if record is not None and record.series == run.series:
            rollstate.record_fcv_raised(record, run.series, now)
        run.outcome = FcvOutcome.RAISED
        run.sentence = f"featureCompatibilityVersion {run.fcv_before} → {run.series} on {primary.name}"
    except PatchError as exc:
        run.outcome, run.sentence = FcvOutcome.FAILED, str(exc)
    return run
