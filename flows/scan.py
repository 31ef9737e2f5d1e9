"""Flow ``inventory_scan``: reach every target concurrently (bounded) and record its facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from dbpatch import paths
from dbpatch.errors import TargetUnreachable
from dbpatch.models import Target, load_inventory
from tasks.engines import REGISTRY
from tasks.facts import NodeFacts
from tasks.scan import collect_facts


def _settle(future, target: Target) -> NodeFacts:
    """A task that failed even after its retries still yields a fact: the target is unreachable."""
    try:
        return future.result()
    except TargetUnreachable as exc:
        facts = NodeFacts.unreachable(target, exc.reason)
        engine = REGISTRY.get(target.engine)
        return engine.annotate(target, facts) if engine else facts


def scan_targets(targets: list[Target], max_workers: int) -> list[NodeFacts]:
    facts: list[NodeFacts] = []
    for start in range(0, len(targets), max_workers):
        batch = targets[start : start + max_workers]
        futures = [collect_facts.submit(t) for t in batch]
        facts += [_settle(f, t) for f, t in zip(futures, batch, strict=True)]
    by_cluster: dict[str, list[NodeFacts]] = {}
    for f in facts:
        by_cluster.setdefault(f.cluster, []).append(f)
    for cluster in by_cluster.values():
        engine = REGISTRY.get(cluster[0].engine)
        if engine is not None:
            engine.settle(cluster)
    return facts


def facts_table(facts: list[NodeFacts]) -> list[dict]:
    return [
        {
            "target": f.target + (" (simulated)" if f.simulated else ""),
            "engine": f.engine.value,
            "cluster": f.cluster,
            "role": f.role.value,
            "version": f.version or "",
            "lag_bytes": f.lag_bytes if f.lag_bytes is not None else "",
            "lag_seconds": f.lag_seconds if f.lag_seconds is not None else "",
            "pending_restart": f.pending_restart if f.pending_restart is not None else "",
            "state": "reachable" if f.reachable else (f.error or "unreachable"),
        }
        for f in facts
    ]


@flow(name="inventory-scan", task_runner=ThreadPoolTaskRunner(max_workers=16), log_prints=True)  # type: ignore[arg-type]
def inventory_scan(
    inventory_path: str,
    targets: list[str] | None = None,
    max_workers: Annotated[int, Field(ge=1, le=16)] = 8,
) -> list[NodeFacts]:
    """Facts of every selected target; an unreachable target is a fact, never a crash."""
    log = get_run_logger()
    inventory = load_inventory(inventory_path).select(targets)
    facts = scan_targets(inventory.targets, max_workers)
    for f in facts:
        log.info("%s: %s", f.target, f"{f.role.value} {f.version}" if f.reachable else f.error)
    create_table_artifact(key="inventory-scan", table=facts_table(facts), description="Facts per target")
    out = paths.home() / "state" / "facts-latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps([f.to_record() for f in facts], indent=2, default=str))
    return facts
