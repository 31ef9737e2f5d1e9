"""PostgreSQL pre- and post-checks: pure functions from facts and thresholds to named ``CheckResult``s.

A failed check is an answer, not an exception: the patcher skips the cluster with the failed checks' sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dbpatch.models import Thresholds
from tasks.facts import NodeFacts, Role
from tasks.patching import CheckResult
from tasks.postgres.facts import major_of

MiB = 1024 * 1024


@dataclass
class HostFacts:
    """What the hosts say, gathered before the checks run."""

    available: dict[str, list[str]] = field(default_factory=dict)  # node → installable versions
    free_bytes: dict[str, int | None] = field(default_factory=dict)
    backup: tuple[bool, str] | None = None  # (ok, detail) from the policy's backup hook
    install_problems: dict[str, list[str]] = field(
        default_factory=dict
    )  # node → what a simulated install found
    errors: dict[str, str] = field(default_factory=dict)  # node → a host fact that could not be read, and why


def _cluster(nodes: list[NodeFacts]) -> str:
    return nodes[0].cluster if nodes else "?"


def reachable(nodes: list[NodeFacts], phase: str = "pre") -> list[CheckResult]:
    return [
        CheckResult(
            "reachable",
            n.target,
            n.reachable,
            "yes" if n.reachable else n.error,
            "reachable",
            f"{n.target} is reachable" if n.reachable else f"{n.target}: {n.error}",
            phase,
        )
        for n in nodes
    ]


def one_primary(nodes: list[NodeFacts], phase: str = "pre") -> list[CheckResult]:
    primaries = [n.target for n in nodes if n.role is Role.PRIMARY]
    ok = len(primaries) == 1
    sentence = (
        f"exactly one primary ({primaries[0]})"
        if ok
        else f"{len(primaries)} primaries: {', '.join(primaries) or 'none'}"
    )
    return [CheckResult("one_primary", _cluster(nodes), ok, len(primaries), 1, sentence, phase)]


def standbys_streaming(nodes: list[NodeFacts], phase: str = "pre") -> list[CheckResult]:
    out = []
    for n in (n for n in nodes if n.role is Role.STANDBY):
        ok = bool(n.streaming)
        out.append(
            CheckResult(
                "standby_streaming",
                n.target,
                ok,
                "streaming" if ok else "not streaming",
                "streaming",
                f"{n.target} streams from {n.upstream}"
                if ok
                else f"{n.target} is not streaming from a primary",
                phase,
            )
        )
    return out


def replication_lag(nodes: list[NodeFacts], th: Thresholds, phase: str = "pre") -> list[CheckResult]:
    out = []
    for n in (n for n in nodes if n.role is Role.STANDBY):
        lag_b, lag_s = n.lag_bytes, n.lag_seconds or 0.0
        ok = lag_b is not None and lag_b <= th.max_lag_bytes and lag_s <= th.max_lag_seconds
        measured = f"{lag_b if lag_b is not None else '?'} B / {lag_s:.1f} s"
        threshold = f"{th.max_lag_bytes} B / {th.max_lag_seconds:g} s"
        sentence = (
            f"{n.target} lag {measured} within {threshold}"
            if ok
            else f"{n.target} replication lag {measured} exceeds {threshold}"
            if lag_b is not None
            else f"{n.target} lag unknown: the primary does not list it"
        )
        out.append(CheckResult("replication_lag", n.target, ok, measured, threshold, sentence, phase))
    return out


def transactions(nodes: list[NodeFacts], th: Thresholds) -> list[CheckResult]:
    out = []
    for n in (n for n in nodes if n.reachable):
        age = n.longest_transaction_seconds or 0.0
        ok = age <= th.max_transaction_age_seconds
        out.append(
            CheckResult(
                "long_transactions",
                n.target,
                ok,
                f"{age:.1f} s",
                f"{th.max_transaction_age_seconds:g} s",
                f"{n.target}: oldest transaction {age:.1f} s"
                + ("" if ok else f" exceeds {th.max_transaction_age_seconds:g} s"),
            )
        )
        prepared = n.prepared_transactions or 0
        out.append(
            CheckResult(
                "prepared_transactions",
                n.target,
                prepared == 0,
                prepared,
                0,
                f"{n.target}: {prepared} prepared transaction(s)"
                + ("" if prepared == 0 else " would block a clean restart"),
            )
        )
    return out


def version_approved(
    cluster: str, target_version: str | None, approved: str | None, current: list[str]
) -> list[CheckResult]:
    ok = target_version is not None and target_version == approved
    sentence = (
        f"target {target_version} is the approved version"
        if ok
        else f"target {target_version} is not approved (approved: {approved or 'none'})"
    )
    out = [CheckResult("version_approved", cluster, ok, target_version, approved, sentence)]
    majors = {major_of(v) for v in current}
    if target_version and majors - {major_of(target_version)}:
        out.append(
            CheckResult(
                "same_major",
                cluster,
                False,
                ", ".join(sorted(majors)),
                major_of(target_version),
                f"{', '.join(sorted(majors))} → {target_version} is a major upgrade: use blue/green, not a minor patch",
            )
        )
    return out


def version_available(nodes: list[NodeFacts], host: HostFacts, target_version: str) -> list[CheckResult]:
    out = []
    for n in nodes:
        offered = host.available.get(n.target, [])
        ok = target_version in offered
        out.append(
            CheckResult(
                "version_available",
                n.target,
                ok,
                target_version,
                "offered by package source",
                f"{n.target}: {target_version} "
                + (
                    "is installable" if ok else f"is not offered (offered: {', '.join(offered) or 'nothing'})"
                ),
            )
        )
    return out


def rollback_available(nodes: list[NodeFacts], host: HostFacts) -> list[CheckResult]:
    """Automatic rollback reinstalls the running version: the package source must still offer it."""
    out = []
    for n in nodes:
        offered = host.available.get(n.target, [])
        ok = n.version in offered
        out.append(
            CheckResult(
                "rollback_available",
                n.target,
                ok,
                n.version,
                "offered by package source",
                f"{n.target}: rollback to {n.version} "
                + ("is possible" if ok else "is impossible: the package source no longer offers it"),
            )
        )
    return out


def disk_space(nodes: list[NodeFacts], host: HostFacts, th: Thresholds) -> list[CheckResult]:
    out = []
    need = f"{th.min_free_disk_bytes // MiB} MiB"
    for n in nodes:
        free = host.free_bytes.get(n.target)
        if free is None:  # not read: say why, never "0 MiB free"
            why = host.errors.get(n.target) or "not read"
            out.append(
                CheckResult(
                    "disk_space",
                    n.target,
                    False,
                    "unknown",
                    need,
                    f"{n.target}: free disk space unknown ({why})",
                )
            )
            continue
        ok = free >= th.min_free_disk_bytes
        out.append(
            CheckResult(
                "disk_space",
                n.target,
                ok,
                f"{free // MiB} MiB",
                need,
                f"{n.target}: {free // MiB} MiB free" + ("" if ok else f", below {need}"),
            )
        )
    return out


def backup(cluster: str, host: HostFacts) -> list[CheckResult]:
    if host.backup is None:
        return []
    ok, detail = host.backup
    return [CheckResult("backup_recency", cluster, ok, detail, "hook exits 0", f"backup hook: {detail}")]


def versions_are(nodes: list[NodeFacts], version: str) -> list[CheckResult]:
    return [
        CheckResult(
            "version",
            n.target,
            n.version == version,
            n.version,
            version,
            f"{n.target} runs {n.version}" + ("" if n.version == version else f", expected {version}"),
            "post",
        )
        for n in nodes
    ]


def replay_not_paused(nodes: list[NodeFacts]) -> list[CheckResult]:
    """A standby whose WAL replay is paused is no candidate and no healthy replica."""
    out = []
    for n in (n for n in nodes if n.role is Role.STANDBY):
        paused = bool(n.extra.get("replay_paused"))
        out.append(
            CheckResult(
                "replay_not_paused",
                n.target,
                not paused,
                "paused" if paused else "replaying",
                "replaying",
                f"{n.target}: WAL replay is paused (pg_wal_replay_resume() to continue)"
                if paused
                else f"{n.target}: WAL replay runs",
            )
        )
    return out


def host_fact_errors(host: HostFacts) -> list[CheckResult]:
    """A host fact that could not be read is a failed check that says why, never a misleading value."""
    return [
        CheckResult("host_facts", node, False, "unreadable", "readable", f"{node}: {error}")
        for node, error in host.errors.items()
    ]


def install_simulation(nodes: list[NodeFacts], host: HostFacts, version: str) -> list[CheckResult]:
    """The package manager's dry run of the exact install found nothing in the way (held packages, removals)."""
    out = []
    for n in nodes:
        if n.target not in host.install_problems:
            continue
        problems = host.install_problems[n.target]
        out.append(
            CheckResult(
                "install_simulation",
                n.target,
                not problems,
                "; ".join(problems) or "clean",
                "clean",
                f"{n.target}: installing {version} "
                + ("would go through" if not problems else "would " + "; ".join(problems)),
            )
        )
    return out
