"""The patch-run report (audit evidence): per cluster the outcome, before/after versions per node, every step
with start/end timestamps, every check with its measured value, and the write-probe figures."""

from __future__ import annotations

import pandas as pd

from tasks.patching import ClusterRun

CLUSTER_COLUMNS = [
    "cluster",
    "engine",
    "strategy",
    "target_version",
    "outcome",
    "before",
    "after",
    "started",
    "ended",
    "seconds",
    "probe_max_write_gap_s",
    "probe_failed_writes",
    "probe_lost_writes",
    "probe_writes_acked",
    "sessions_ended",
    "run_id",
    "resumed_from",
    "simulated",
    "detail",
]


def _name(r: ClusterRun) -> str:
    """Every output that touches a simulated engine says so."""
    return r.cluster + (" (simulated)" if r.simulated else "")


def _versions(mapping: dict[str, str | None]) -> str:
    return ", ".join(f"{node}={version or '?'}" for node, version in mapping.items())


def clusters_frame(runs: list[ClusterRun]) -> pd.DataFrame:
    rows = []
    for r in runs:
        probe = r.probe or {}
        rows.append(
            {
                "cluster": _name(r),
                "engine": r.engine,
                "strategy": r.strategy.value,
                "target_version": r.target_version,
                "outcome": r.outcome.value,
                "before": _versions(r.before),
                "after": _versions(r.after),
                "started": r.started.isoformat(timespec="seconds") if r.started else None,
                "ended": r.ended.isoformat(timespec="seconds") if r.ended else None,
                "seconds": round((r.ended - r.started).total_seconds(), 1) if r.started and r.ended else None,
                "probe_max_write_gap_s": probe.get("probe_max_write_gap_s"),
                "probe_failed_writes": probe.get("probe_failed_writes"),
                "probe_lost_writes": probe.get("probe_lost_writes"),
                "probe_writes_acked": probe.get("probe_writes_acked"),
                "sessions_ended": r.sessions_ended,
                "run_id": r.run_id or "",
                "resumed_from": r.resumed_from or "",
                "simulated": r.simulated,
                "detail": r.sentence,
            }
        )
    df = pd.DataFrame(rows, columns=CLUSTER_COLUMNS)
    for col in ("probe_failed_writes", "probe_lost_writes", "probe_writes_acked"):
        df[col] = df[col].astype("Int64")  # counts stay whole numbers next to clusters without a probe
    return df


STEP_COLUMNS = [
    "cluster",
    "node",
    "step",
    "description",
    "status",
    "started",
    "ended",
    "seconds",
    "detail",
    "commands",
]


def _planned(r: ClusterRun) -> list[dict]:
    """A cluster that ran no step (a dry run, or halted before it started): every step of its plan, with the
    exact commands it would run."""
    return [
        {
            "cluster": _name(r),
            "node": step.node,
            "step": step.action,
            "description": step.description,
            "status": "planned",
            "commands": "\n".join("$ " + " ".join(c.argv) for c in step.commands),
        }
        for step in r.plan
    ]


def steps_frame(runs: list[ClusterRun]) -> pd.DataFrame:
    """Executed steps with their timestamps; for a cluster that executed none, its planned steps."""
    rows: list[dict] = []
    for r in runs:
        rows += [{"cluster": _name(r), **s.record()} for s in r.steps] if r.steps else _planned(r)
    return pd.DataFrame(rows, columns=STEP_COLUMNS)


def checks_frame(runs: list[ClusterRun]) -> pd.DataFrame:
    rows = [{"cluster": _name(r), **c.record()} for r in runs for c in r.checks]
    return pd.DataFrame(
        rows, columns=["cluster", "phase", "node", "check", "ok", "measured", "threshold", "detail"]
    )


def nodes_frame(runs: list[ClusterRun]) -> pd.DataFrame:
    rows = [
        {
            "cluster": _name(r),
            "node": node,
            "before": before,
            "after": r.after.get(node),
            "outcome": r.outcome.value,
        }
        for r in runs
        for node, before in r.before.items()
    ]
    return pd.DataFrame(rows, columns=["cluster", "node", "before", "after", "outcome"])


def summary_markdown(runs: list[ClusterRun], wave: str, dry_run: bool) -> str:
    lines = [
        f"Wave **{wave}**{' (dry run: nothing changed)' if dry_run else ''}: {len(runs)} cluster(s).",
        "",
        "| cluster | outcome | before → after | max write gap | lost writes | detail |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        probe = r.probe or {}
        name = r.cluster + (" (simulated)" if r.simulated else "")
        lines.append(
            f"| {name} | {r.outcome.value} | {_versions(r.before)} → {_versions(r.after)} | "
            f"{probe.get('probe_max_write_gap_s', '')} | {probe.get('probe_lost_writes', '')} | {r.sentence} |"
        )
    return "\n".join(lines)
