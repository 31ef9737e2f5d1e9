"""The drift report as a DataFrame: one row per target, its version, the approved one and the verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from tasks.facts import NodeFacts

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
    "releases_behind",
    "latency_days",
    "eol",
    "detail",
    "simulated",
    "scanned_at",
]


def drift_frame(facts: list[NodeFacts], assessments: Mapping[str, object]) -> pd.DataFrame:
    """``assessments`` maps target name → catalog Assessment (absent for unreachable targets)."""
    rows = []
    for f in facts:
        a = assessments.get(f.target)
        rows.append(
            {
                "target": f.target,
                "engine": f.engine.value,
                "environment": f.environment,
                "cluster": f.cluster,
                "role": f.role.value,
                "version": f.version,
                "major": getattr(a, "major", None),
                "approved": getattr(a, "approved", None),
                "status": getattr(getattr(a, "status", None), "value", None) if a else "unreachable",
                "releases_behind": getattr(a, "releases_behind", None),
                "latency_days": getattr(a, "latency_days", None),
                "eol": getattr(a, "eol", None),
                "detail": getattr(a, "sentence", None) if a else f.error,
                "simulated": f.simulated,
                "scanned_at": f.collected_at.isoformat(timespec="seconds"),
            }
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["releases_behind"] = df["releases_behind"].astype("Int64")
    df["latency_days"] = df["latency_days"].astype("Int64")
    return df


def summary_markdown(df: pd.DataFrame, on: dt.date) -> str:
    counts = df["status"].value_counts().to_dict()
    total = len(df)
    compliant = counts.get("compliant", 0)
    lines = [
        f"Baseline as of **{on.isoformat()}**: {compliant} of {total} targets compliant "
        f"({(100 * compliant / total) if total else 0:.0f}%).",
        "",
        "| status | targets |",
        "|---|---|",
        *(f"| {status} | {n} |" for status, n in sorted(counts.items())),
    ]
    if df["simulated"].any():
        lines += [
            "",
            "Targets marked *(simulated)* run on dbpatch's wire-protocol simulator, not a real server.",
        ]
    attention = df[df["status"] != "compliant"]
    if len(attention):
        lines += ["", "Needs attention:", *(f"- {r.target}: {r.detail}" for r in attention.itertuples())]
    return "\n".join(lines)
