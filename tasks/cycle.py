"""The decisions of a patch cycle, as plain functions: which clusters need a patch, which are the canary, the
wave order, the canary's health after the bake, and the cycle's state kept between its two flow runs."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dbpatch import paths, rules
from dbpatch.errors import ConfigError
from dbpatch.models import Inventory, Policy, Thresholds
from tasks.facts import NodeFacts, Role
from tasks.patching import CheckResult, ClusterRun

NEEDS_PATCH = {
    "behind",
    "rejected",
}  # an older approved version is the fix; EOL needs an upgrade, not a patch


def clusters_to_patch(inventory: Inventory, drift_rows: list[dict]) -> set[str]:
    by_target = {t.name: t.cluster_name for t in inventory.targets}
    return {
        by_target[r["target"]] for r in drift_rows if r["status"] in NEEDS_PATCH and r["target"] in by_target
    }


def _env_rank(policy: Policy, env: str) -> int:
    order = policy.waves.order
    return order.index(env) if env in order else len(order)


def canary_clusters(inventory: Inventory, policy: Policy, todo: set[str] | list[str]) -> list[str]:
    """``canary.count`` clusters: environments that need no approval first, then tagged ``canary.tag``, then
    the lowest environment, then by name. A canary from an approval-gated environment (only when nothing else
    is left to patch) waits for that approval: see ``gated_environments``."""
    clusters = inventory.clusters()
    gated = set(policy.waves.approval_required)

    def key(name: str) -> tuple[int, int, int, str]:
        targets = clusters[name]
        tagged = any(policy.canary.tag in t.tags for t in targets)
        env = targets[0].environment
        return (1 if env in gated else 0, 0 if tagged else 1, _env_rank(policy, env), name)

    return sorted(todo, key=key)[: policy.canary.count]


def gated_environments(inventory: Inventory, policy: Policy, clusters: list[str]) -> list[str]:
    """The environments among ``clusters`` whose waves need a person's approval (``waves.approval_required``)."""
    by_name = inventory.clusters()
    envs = {by_name[c][0].environment for c in clusters}
    return sorted(envs & set(policy.waves.approval_required))


def waves_in_order(inventory: Inventory, policy: Policy, remaining: list[str]) -> list[tuple[str, list[str]]]:
    clusters = inventory.clusters()
    by_env: dict[str, list[str]] = {}
    for name in remaining:
        by_env.setdefault(clusters[name][0].environment, []).append(name)
    return [(env, sorted(by_env[env])) for env in sorted(by_env, key=lambda e: (_env_rank(policy, e), e))]


def health_checks(
    facts: list[NodeFacts], versions: dict[str, str | None], th: Thresholds
) -> list[CheckResult]:
    """Is the canary still healthy: reachable, on its new version, one primary, replicas streaming and caught up."""
    out: list[CheckResult] = []
    for f in facts:
        want = versions.get(f.cluster)
        if not f.reachable:
            out.append(
                CheckResult(
                    "reachable", f.target, False, f.error, "reachable", f"{f.target}: {f.error}", "health"
                )
            )
            continue
        out.append(
            CheckResult(
                "version",
                f.target,
                f.version == want,
                f.version,
                want,
                f"{f.target} runs {f.version}" + ("" if f.version == want else f", expected {want}"),
                "health",
            )
        )
        if f.role in (Role.STANDBY, Role.SECONDARY):
            lag_ok = (
                (f.streaming is not False)
                and (f.lag_bytes is None or f.lag_bytes <= th.max_lag_bytes)
                and (f.lag_seconds or 0) <= th.max_lag_seconds
            )
            out.append(
                CheckResult(
                    "replication",
                    f.target,
                    lag_ok,
                    f"{f.lag_bytes} B / {f.lag_seconds} s",
                    "streaming, lag within limits",
                    f"{f.target} " + ("streams and is caught up" if lag_ok else "is not streaming or lags"),
                    "health",
                )
            )
    for cluster in sorted({f.cluster for f in facts}):
        primaries = [f.target for f in facts if f.cluster == cluster and f.role is Role.PRIMARY]
        out.append(
            CheckResult(
                "one_primary",
                cluster,
                len(primaries) == 1,
                len(primaries),
                1,
                f"{cluster}: {len(primaries)} primary node(s)",
                "health",
            )
        )
    return out


@dataclass
class CycleState:
    """What a cycle decided and did, saved between its start run and its waves run (and for the report)."""

    cycle_id: str
    started: dt.datetime
    todo: list[str] = field(default_factory=list)
    canary: list[str] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)
    canary_finished: dt.datetime | None = None
    bake_until: dt.datetime | None = None
    waves_run: str | None = None
    deferred: list[str] = field(
        default_factory=list
    )  # clusters whose window did not allow them; resumed later
    resume_at: dt.datetime | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    # wave → {approved, approver, at, comment}: who answered, when, and why (a timeout is approved=False)
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)
    result: str | None = None
    failed: bool = False
    finished: dt.datetime | None = None
    report: str | None = None
    lock: str | None = None  # the cycle lock this cycle holds until it has finished (dbpatch/locks.py)
    flow_runs: list[str] = field(default_factory=list)  # the Prefect flow runs that worked on this cycle

    def __post_init__(self) -> None:
        self.path(self.cycle_id)  # refuses an id that is not a name before anything runs or is written

    @classmethod
    def new(cls, cycle_id: str) -> CycleState:
        return cls(cycle_id=cycle_id, started=dt.datetime.now(dt.UTC))

    @staticmethod
    def path(cycle_id: str) -> Path:
        """``<home>/state/cycles/<id>.json``; an id that is not a name (``../x``, ``/abs``) is refused."""
        try:
            rules.cycle_id(cycle_id)
        except ValueError as exc:
            raise ConfigError(f"parameters: cycle_id: {exc}") from None
        return paths.home() / "state" / "cycles" / f"{cycle_id}.json"

    @classmethod
    def load(cls, cycle_id: str) -> CycleState:
        path = cls.path(cycle_id)
        if not path.is_file():
            raise ConfigError(f"parameters: cycle_id: no cycle {cycle_id!r} in {path.parent}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("cycle_id") != cycle_id:
                raise ValueError("not this cycle's state")
            for key in ("started", "canary_finished", "bake_until", "resume_at", "finished"):
                if data.get(key):
                    data[key] = dt.datetime.fromisoformat(data[key])
            return cls(**data)
        except (ValueError, TypeError, AttributeError, OSError) as exc:
            raise ConfigError(
                f"{path}: not a valid cycle state ({type(exc).__name__}: {exc})"[:300]
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    def save(self) -> None:
        path = self.path(self.cycle_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)

    def record_wave(self, wave: str, runs: list[ClusterRun], report: Path | None) -> None:
        for r in runs:
            if r.target_version:
                self.versions[r.cluster] = r.target_version
            self.rows.append(
                {
                    "wave": wave,
                    "cluster": r.cluster + (" (simulated)" if r.simulated else ""),
                    "outcome": r.outcome.value,
                    "before": ", ".join(f"{n}={v}" for n, v in r.before.items()),
                    "after": ", ".join(f"{n}={v}" for n, v in r.after.items()),
                    "detail": r.sentence,
                    "started": r.started.isoformat(timespec="seconds") if r.started else "",
                    "ended": r.ended.isoformat(timespec="seconds") if r.ended else "",
                    # client downtime measured by the write probe (cycle parameter write_probe)
                    "max_write_gap_s": (r.probe or {}).get("probe_max_write_gap_s", ""),
                    "lost_writes": (r.probe or {}).get("probe_lost_writes", ""),
                    "report": str(report) if report else "",
                }
            )

    def skip_wave(self, wave: str, clusters: list[str], why: str) -> None:
        self.rows += [
            {
                "wave": wave,
                "cluster": c,
                "outcome": "skipped",
                "before": "",
                "after": "",
                "detail": why,
                "started": "",
                "ended": "",
                "max_write_gap_s": "",
                "lost_writes": "",
                "report": "",
            }
            for c in clusters
        ]

    def wave_rows(self, wave: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["wave"] == wave]

    def canary_versions(self) -> dict[str, str | None]:
        return {c: self.versions.get(c) for c in self.canary}

    def finish(self, result: str, failed: bool = False) -> None:
        self.result, self.failed = result, failed
        self.finished = dt.datetime.now(dt.UTC)

    def record_approval(self, wave: str, approved: bool, approver: str, comment: str) -> None:
        self.approvals[wave] = {
            "approved": approved,
            "approver": approver,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "comment": comment,
        }


def cycle_finished(cycle_id: str) -> bool:
    """For the cycle lock: a holder whose state is gone or has a result no longer holds the fleet. A cycle
    whose only work left is deferred clusters does not hold it either: a new cycle supersedes it."""
    try:
        return CycleState.load(cycle_id).result is not None
    except ConfigError:
        return True
