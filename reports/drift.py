"""The drift report as a DataFrame: one row per target, its version, the approved one and the verdict, plus
the health of the target's cluster. Missing values are words ("unknown (stopped)") or blanks, never nan/None."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from tasks.catalog.compliance import Assessment
from tasks.facts import NodeFacts
from tasks.health import ClusterHealth, HealthStatus

COLUMNS = [
    "target",
    "engine",
    "environment",
    "cluster",
    "role",
    "version",
    "major",
    "approved",
    "status",
    "health",
    "releases_behind",
    "latency_days",
    "eol",
    "detail",
    "health_detail",
    "simulated",
    "scanned_at",
]


NOT_SUPPORTED = "not_supported"
UNREACHABLE = "unreachable"


def unknown_version(f: NodeFacts) -> str:
    """What the version column says when no version was read."""
    if not f.supported:
        return "unknown (not supported)"
    if f.reachable:
        return "unknown (not reported)"
    return "unknown (stopped)" if (f.error or "").endswith("connection refused") else "unknown (unreachable)"


def drift_frame(
    facts: list[NodeFacts],
    assessments: Mapping[str, Assessment],
    health: Mapping[str, ClusterHealth] | None = None,
) -> pd.DataFrame:
    """``assessments`` maps target name → catalog Assessment (absent for unread targets); ``health`` maps
    cluster name → its ``ClusterHealth`` (absent: the health column says unknown)."""
    rows = []
    for f in facts:
        a = assessments.get(f.target)
        h = (health or {}).get(f.cluster)
        if a is not None:
            status, detail = a.status.value, a.sentence
        else:
            status = NOT_SUPPORTED if not f.supported else UNREACHABLE
            detail = f.error or f"{f.target}: no version read"
        rows.append(
            {
                "target": f.target,
                "engine": f.engine.value,
                "environment": f.environment,
                "cluster": f.cluster,
                "role": f.role.value,
                "version": f.version or unknown_version(f),
                "major": (a.major if a else None) or "",
                "approved": (a.approved if a else None) or "",
                "status": status,
                "health": h.status.value if h else HealthStatus.UNKNOWN.value,
                "releases_behind": a.releases_behind if a else None,
                "latency_days": a.latency_days if a else None,
                "eol": a.eol if a else None,
                "detail": detail,
                "health_detail": h.sentence if h else "unknown: not evaluated",
                "simulated": f.simulated,
                "scanned_at": f.collected_at.isoformat(timespec="seconds"),
            }
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["releases_behind"] = df["releases_behind"].astype("Int64")
    df["latency_days"] = df["latency_days"].astype("Int64")
    return df


def needs_attention(df: pd.DataFrame) -> pd.Series:
    """Rows that count as not compliant: a version verdict other than compliant, or a cluster not healthy."""
    return (df["status"] != "compliant") | (df["health"] != HealthStatus.HEALTHY.value)


def summary_markdown(df: pd.DataFrame, on: dt.date) -> str:
    counts = df["status"].value_counts().to_dict()
    total = len(df)
    attention = df[needs_attention(df)]
    compliant = total - len(attention)
    clusters = df.drop_duplicates("cluster")
    lines = [
        f"Baseline as of **{on.isoformat()}**: {compliant} of {total} targets compliant "
        f"({(100 * compliant / total) if total else 0:.0f}%); a target counts only when its version is "
        "compliant and its cluster healthy.",
        "",
        "| status | targets |",
        "|---|---|",
        *(f"| {status} | {n} |" for status, n in sorted(counts.items())),
        "",
        "| cluster | health | detail |",
        "|---|---|---|",
        *(f"| {r.cluster} | {r.health} | {r.health_detail} |" for r in clusters.itertuples()),
    ]
    if df["simulated"].any():
        lines += [
            "",
            "Targets marked *(simulated)* run on dbpatch's wire-protocol simulator, not a real server.",
        ]
    if len(attention):
        lines += ["", "Needs attention:"]
        for r in attention.itertuples():
            why = [str(r.detail)] if r.status != "compliant" else []
            why += (
                [f"cluster {r.cluster} {r.health_detail}"] if r.health != HealthStatus.HEALTHY.value else []
            )
            lines.append(f"- {r.target}: {'; '.join(why)}")
    return "\n".join(lines)
