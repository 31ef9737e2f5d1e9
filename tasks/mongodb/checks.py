"""MongoDB pre-checks: pure functions over facts, each returning the shared ``tasks.patching.CheckResult`` (node:
the set's name; phase "pre") with one readable sentence.

Checks take the facts of every member of one replica set (``read_set_facts``). The set-wide view (members,
health, lag) is the primary's ``replSetGetStatus`` when the primary answered, else the first member that did.
A failed check is an answer, never an exception; ``require`` turns failures into ``PrecheckFailed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbpatch.errors import NotSupported, PrecheckFailed
from dbpatch.models import Thresholds
from tasks.mongodb.facts import MemberState, MongoFacts
from tasks.patching import CheckResult

LTS_CHAIN = ("4.4", "5.0", "6.0", "7.0", "8.0")
BLOCKING_STATES = frozenset(
    {MemberState.STARTUP, MemberState.STARTUP2, MemberState.RECOVERING, MemberState.ROLLBACK, MemberState.UNKNOWN,
     MemberState.REMOVED}
)  # fmt: skip


def _view(nodes: Sequence[MongoFacts]) -> MongoFacts | None:
    answered = [n for n in nodes if n.reachable and n.members]
    return next((n for n in answered if n.state is MemberState.PRIMARY), answered[0] if answered else None)


def _set_name(nodes: Sequence[MongoFacts]) -> str:
    return next((n.set_name for n in nodes if n.set_name), "the replica set")


def _result(
    nodes: Sequence[MongoFacts], name: str, ok: bool, measured: Any, threshold: Any, sentence: str
) -> CheckResult:
    """A pre-check about the whole set: ``node`` is the set's name (the sentence names the member)."""
    return CheckResult(name, _set_name(nodes), ok, measured, threshold, sentence, "pre")


def _no_view(name: str, nodes: Sequence[MongoFacts]) -> CheckResult:
    return _result(
        nodes, name, False, None, None, f"{name}: no member of {_set_name(nodes)} answered replSetGetStatus"
    )


def check_members_healthy(nodes: Sequence[MongoFacts]) -> CheckResult:
    """Every member healthy in the set's view, and every member reachable from dbpatch."""
    view = _view(nodes)
    if not view:
        return _no_view("members_healthy", nodes)
    sick = [f"{m.name} ({m.state.name})" for m in view.members if not m.health]
    down = {m.name for m in view.members if not m.health}
    sick += [f"{n.target} ({n.error})" for n in nodes if not n.reachable and n.me not in down]
    total = len(view.members)
    healthy = total - sum(not m.health for m in view.members)
    if sick:
        return _result(nodes, "members_healthy", False, f"{healthy}/{total}", "all",
                           f"{_set_name(nodes)}: not healthy: {', '.join(sick)}")  # fmt: skip
    return _result(
        nodes,
        "members_healthy",
        True,
        f"{healthy}/{total}",
        "all",
        f"{_set_name(nodes)}: all {total} members healthy",
    )


def check_member_states(nodes: Sequence[MongoFacts]) -> CheckResult:
    """No member in STARTUP/STARTUP2/RECOVERING/ROLLBACK (a restart now could lose the set's majority)."""
    view = _view(nodes)
    if not view:
        return _no_view("member_states", nodes)
    bad = [f"{m.name} is {m.state.name}" for m in view.members if m.state in BLOCKING_STATES]
    if bad:
        return _result(
            nodes,
            "member_states",
            False,
            "; ".join(bad),
            "PRIMARY/SECONDARY/ARBITER",
            f"{_set_name(nodes)}: {'; '.join(bad)}",
        )
    return _result(
        nodes,
        "member_states",
        True,
        "ok",
        "PRIMARY/SECONDARY/ARBITER",
        f"{_set_name(nodes)}: every member is PRIMARY, SECONDARY or ARBITER",
    )


def check_no_initial_sync(nodes: Sequence[MongoFacts]) -> CheckResult:
    syncing = [n.me or n.target for n in nodes if n.reachable and n.initial_sync]
    if syncing:
        return _result(nodes, "no_initial_sync", False, ", ".join(syncing), "none",
                           f"{_set_name(nodes)}: initial sync running on {', '.join(syncing)}")  # fmt: skip
    return _result(
        nodes, "no_initial_sync", True, "none", "none", f"{_set_name(nodes)}: no initial sync running"
    )


def check_fcv(nodes: Sequence[MongoFacts]) -> CheckResult:
    """featureCompatibilityVersion equals the series every member runs (the last upgrade was finished)."""
    reachable = [n for n in nodes if n.reachable]
    series = sorted({n.series for n in reachable if n.series})
    fcv = next((n.fcv for n in reachable if n.state is MemberState.PRIMARY and n.fcv), None)
    fcv = fcv or next((n.fcv for n in reachable if n.fcv), None)
    if not series or not fcv:
        return _result(
            nodes,
            "fcv",
            False,
            fcv,
            None,
            f"{_set_name(nodes)}: featureCompatibilityVersion could not be read",
        )
    if len(series) > 1:
        return _result(nodes, "fcv", False, fcv, ", ".join(series),
                           f"{_set_name(nodes)}: members run different series ({', '.join(series)})")  # fmt: skip
    if fcv != series[0]:
        return _result(nodes,
            "fcv", False, fcv, series[0],
            f"{_set_name(nodes)}: featureCompatibilityVersion is {fcv} but members run {series[0]}: "
            "finish the last upgrade (setFeatureCompatibilityVersion) first",
        )  # fmt: skip
    return _result(
        nodes,
        "fcv",
        True,
        fcv,
        series[0],
        f"{_set_name(nodes)}: featureCompatibilityVersion {fcv} matches the binaries",
    )


def check_lag(nodes: Sequence[MongoFacts], max_lag_seconds: float) -> CheckResult:
    """Every SECONDARY within ``max_lag_seconds`` of the primary (unknown lag fails)."""
    view = _view(nodes)
    if not view:
        return _no_view("lag", nodes)
    secondaries = [m for m in view.members if m.state is MemberState.SECONDARY]
    unknown = [m.name for m in secondaries if m.lag_seconds is None]
    worst = max(secondaries, key=lambda m: m.lag_seconds or 0.0, default=None)
    measured = worst.lag_seconds if worst else 0.0
    if unknown:
        return _result(
            nodes,
            "lag",
            False,
            None,
            max_lag_seconds,
            f"{_set_name(nodes)}: lag unknown for {', '.join(unknown)}",
        )
    if worst and (worst.lag_seconds or 0.0) > max_lag_seconds:
        return _result(nodes, "lag", False, measured, max_lag_seconds,
                           f"{worst.name} is {measured:g}s behind the primary (limit {max_lag_seconds:g}s)")  # fmt: skip
    return _result(nodes, "lag", True, measured, max_lag_seconds,
                       f"{_set_name(nodes)}: secondaries at most {measured or 0:g}s behind (limit {max_lag_seconds:g}s)")  # fmt: skip


def check_oplog_window(nodes: Sequence[MongoFacts], expected_patch_hours: float) -> CheckResult:
    """The shortest oplog window is longer than the patch is expected to take (a stopped member can resync)."""
    windows = [
        (n.oplog_window_hours, n.me or n.target)
        for n in nodes
        if n.reachable and n.oplog_window_hours is not None
    ]
    if not windows:
        return _result(
            nodes,
            "oplog_window",
            False,
            None,
            expected_patch_hours,
            f"{_set_name(nodes)}: oplog window could not be read",
        )
    hours, who = min(windows)
    if hours <= expected_patch_hours:
        return _result(nodes, "oplog_window", False, hours, expected_patch_hours,
                           f"{who}: oplog window {hours:g}h is not longer than the expected patch time {expected_patch_hours:g}h")  # fmt: skip
    return _result(nodes, "oplog_window", True, hours, expected_patch_hours,
                       f"{_set_name(nodes)}: shortest oplog window {hours:g}h > expected patch time {expected_patch_hours:g}h")  # fmt: skip


def check_single_primary(nodes: Sequence[MongoFacts]) -> CheckResult:
    """Exactly one PRIMARY, counting both the set's view and every member's own claim."""
    view = _view(nodes)
    claimed = {m.name for m in view.members if m.state is MemberState.PRIMARY} if view else set()
    claimed |= {n.me or n.target for n in nodes if n.reachable and n.state is MemberState.PRIMARY}
    if len(claimed) == 1:
        return _result(
            nodes, "single_primary", True, 1, 1, f"{_set_name(nodes)}: primary is {next(iter(claimed))}"
        )
    found = ", ".join(sorted(claimed)) or "none"
    return _result(
        nodes,
        "single_primary",
        False,
        len(claimed),
        1,
        f"{_set_name(nodes)}: expected one primary, found {found}",
    )


def check_electable_secondary(nodes: Sequence[MongoFacts]) -> CheckResult:
    """At least one healthy SECONDARY with priority > 0, so the primary can step down."""
    view = _view(nodes)
    if not view:
        return _no_view("electable_secondary", nodes)
    electable = [
        m.name
        for m in view.members
        if m.state is MemberState.SECONDARY and m.health and (m.priority is None or m.priority > 0)
    ]
    if electable:
        return _result(
            nodes,
            "electable_secondary",
            True,
            len(electable),
            1,
            f"{_set_name(nodes)}: electable secondaries: {', '.join(electable)}",
        )
    return _result(
        nodes,
        "electable_secondary",
        False,
        0,
        1,
        f"{_set_name(nodes)}: no electable secondary: the primary could not step down",
    )


def run_prechecks(
    nodes: Sequence[MongoFacts], thresholds: Thresholds, expected_patch_hours: float
) -> list[CheckResult]:
    """Every pre-check for a rolling patch of one replica set, in a stable order."""
    results = [
        check_members_healthy(nodes),
        check_member_states(nodes),
        check_no_initial_sync(nodes),
        check_single_primary(nodes),
        check_fcv(nodes),
        check_lag(nodes, thresholds.max_lag_seconds),
        check_oplog_window(nodes, expected_patch_hours),
    ]
    view = _view(nodes)
    if view and len(view.members) > 1:
        results.append(check_electable_secondary(nodes))
    return results


def require(results: Sequence[CheckResult]) -> None:
    """Raise ``PrecheckFailed`` naming every failed check."""
    failed = [r.sentence for r in results if not r.ok]
    if failed:
        raise PrecheckFailed("; ".join(failed))


# --- the major-version rule -------------------------------------------------------------------------------


def _parse(series: str) -> tuple[int, int]:
    try:
        major, minor = (int(p) for p in series.split(".")[:2])
    except ValueError:
        raise NotSupported(f"{series!r} is not a MongoDB series (expected e.g. 7.0)") from None
    return major, minor


def _is_lts(series: str) -> bool:
    return series in LTS_CHAIN or _parse(series)[1] == 0


def _next_lts(series: str) -> str:
    if series in LTS_CHAIN[:-1]:
        return LTS_CHAIN[LTS_CHAIN.index(series) + 1]
    return f"{_parse(series)[0] + 1}.0"


def check_major_step(current_series: str, target_series: str, node: str = "") -> CheckResult:
    """Allow a patch within a series or one LTS step up (6.0→7.0, 7.0→8.0); raise ``NotSupported`` otherwise.

    The rule: major releases are the X.0 series (plus 4.4), chained 4.4 → 5.0 → 6.0 → 7.0 → 8.0 (→ 9.0 …).
    An upgrade moves to the next one only, and FCV must be raised before the following step. Rapid/minor
    releases (every X.y with y > 0: 6.1-6.3, 7.1-7.3, 8.1, 8.2, and 8.3 too, although endoflife.date does
    not label 8.3 "rapid") are neither sources nor stepping stones of such a path; patching inside a series
    (8.2.1 → 8.2.12) is allowed. Major downgrades are refused.
    """
    current, target = current_series.strip(), target_series.strip()
    cur, tgt = _parse(current), _parse(target)
    if cur == tgt:
        return CheckResult(
            "major_step", node, True, current, target, f"{current} → {target}: patch within the series"
        )
    if tgt < cur:
        raise NotSupported(
            f"MongoDB {current} → {target} is a major downgrade (needs an FCV downgrade first): not automated"
        )
    for series in (current, target):
        if not _is_lts(series):
            raise NotSupported(
                f"MongoDB {current} → {target}: {series} is a rapid release, not a step on the LTS path "
                f"({' → '.join(LTS_CHAIN)})"
            )
    step = _next_lts(current)
    if target != step:
        raise NotSupported(
            f"MongoDB {current} → {target} skips a major release: upgrade to {step} (and its FCV) first"
        )
    return CheckResult(
        "major_step",
        node,
        True,
        current,
        target,
        f"{current} → {target}: one major step (set FCV {target} afterwards)",
    )
