"""The report of a patch run that was interrupted (Ctrl-C): the flow never returned its ClusterRuns, so what
each cluster had done is read back from its journal (``dbpatch/state.py``), which the procedure writes before
and after every step. Published like a run report, marked interrupted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from dbpatch.models import load_inventory
from dbpatch.state import JournalRecord, StateStore, default_store
from reports.provenance import provenance
from reports.publish import publish_sections

CLUSTER_COLUMNS = ["cluster", "outcome", "run_id", "in_step", "steps_done", "detail"]
STEP_COLUMNS = ["cluster", "node", "step", "description", "status", "started", "ended", "detail"]


def _this_run(store: StateStore, cluster: str, since: dt.datetime) -> list[JournalRecord]:
    last = store.last_run(cluster)
    if last is None or not last.records:
        return []
    since = since.replace(microsecond=since.microsecond // 1000 * 1000)  # journal times are in milliseconds
    if dt.datetime.fromisoformat(last.records[0].at) < since:
        return []  # an earlier run's journal: this run never reached the cluster
    return last.records


def _steps(cluster: str, records: list[JournalRecord]) -> list[dict]:
    rows: list[dict] = []
    for r in records:
        if r.kind == "intent":
            rows.append(
                {
                    "cluster": cluster,
                    "node": r.node,
                    "step": r.action,
                    "description": r.detail,
                    "status": "in progress when interrupted",
                    "started": r.at,
                    "ended": "",
                    "detail": "",
                }
            )
        elif r.kind == "result":
            open_rows = [x for x in rows if x["node"] == r.node and x["step"] == r.action and not x["ended"]]
            if open_rows:
                open_rows[-1].update(status=r.status or "", ended=r.at, detail=r.detail)
    return rows


def interrupted_frames(
    inventory_path: str, targets: list[str] | None, since: dt.datetime, store: StateStore | None = None
) -> dict[str, pd.DataFrame]:
    store = store or default_store()
    clusters, steps = [], []
    for cluster in load_inventory(inventory_path).select(targets).clusters():
        records = _this_run(store, cluster, since)
        rows = _steps(cluster, records)
        steps += rows
        running = [s for s in rows if not s["ended"]]
        finished = any(r.kind == "end" for r in records)
        if not records:
            outcome, detail = "not started", "the run was interrupted before it reached this cluster"
        elif finished:
            outcome, detail = "finished", next(r.detail for r in records if r.kind == "end") or "finished"
        else:
            outcome = "interrupted"
            detail = (
                f"interrupted in {running[-1]['step']} on {running[-1]['node']}; "
                "run the same command again: it reconciles the cluster first"
                if running
                else "interrupted between steps; run the same command again: it reconciles the cluster first"
            )
        clusters.append(
            {
                "cluster": cluster,
                "outcome": outcome,
                "run_id": records[0].run_id if records else "",
                "in_step": f"{running[-1]['node']}: {running[-1]['step']}" if running else "",
                "steps_done": sum(1 for s in rows if s["status"] == "ok"),
                "detail": detail,
            }
        )
    return {
        "clusters": pd.DataFrame(clusters, columns=CLUSTER_COLUMNS),
        "steps": pd.DataFrame(steps, columns=STEP_COLUMNS),
    }


def publish_interrupted(
    inventory_path: str,
    policy_path: str,
    targets: list[str] | None,
    wave: str,
    since: dt.datetime,
    reports_dir: Path | None = None,
) -> Path:
    """Write the interrupted run's report; returns its HTML page."""
    sections = interrupted_frames(inventory_path, targets, since)
    df = sections["clusters"]
    summary = "\n".join(
        [
            f"Wave **{wave}** was **interrupted** at {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} "
            f"(started {since.isoformat(timespec='seconds')}). Per cluster, what its journal says it had done.",
            "",
            "| cluster | outcome | in step | detail |",
            "|---|---|---|---|",
            *(f"| {r.cluster} | {r.outcome} | {r.in_step} | {r.detail} |" for r in df.itertuples()),
        ]
    )
    files = publish_sections(
        sections,
        key="patch-run",
        title=f"dbpatch run: wave {wave} (INTERRUPTED)",
        summary_md=summary,
        reports_dir=reports_dir,
        provenance=provenance(inventory_path, policy_path, interrupted="yes"),
        interrupted=True,
    )
    return files["html"]
