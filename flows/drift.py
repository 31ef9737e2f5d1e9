"""Flow ``drift_report``: compare every target's facts with the approved baseline and publish the evidence."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger

from dbpatch.errors import PatchError
from dbpatch.models import Policy, load_inventory, load_policy
from flows.scan import inventory_scan
from reports.drift import drift_frame, needs_attention, summary_markdown
from reports.provenance import provenance
from reports.publish import publish, records
from tasks.catalog import assess, load_catalog
from tasks.engines import cluster_health
from tasks.facts import NodeFacts
from tasks.health import ClusterHealth


class DriftFound(PatchError):
    """Raised after publishing when ``fail_on_drift`` is set and a target is not compliant or its cluster is not
    healthy (for pipelines)."""


@dataclass
class DriftResult:
    rows: list[dict]  # the report's rows; missing values are "" (never nan or None)
    csv: Path
    html: Path
    non_compliant: int  # targets whose version is not compliant or whose cluster is not healthy
    health: dict[str, ClusterHealth] = field(default_factory=dict)  # cluster name → its health


def health_by_cluster(facts: list[NodeFacts], policy: Policy) -> dict[str, ClusterHealth]:
    """Each cluster's health from the facts of its members, with the policy's thresholds."""
    clusters: dict[str, list[NodeFacts]] = {}
    for f in facts:
        clusters.setdefault(f.cluster, []).append(f)
    return {
        name: cluster_health(nodes[0].engine, nodes, policy.thresholds) for name, nodes in clusters.items()
    }


@flow(name="drift-report", log_prints=True)
def drift_report(
    inventory_path: str,
    policy_path: str,
    on: dt.date | None = None,
    targets: list[str] | None = None,
    reports_dir: str | None = None,
    fail_on_drift: bool = False,
) -> DriftResult:
    """Scan, assess each target against the policy's baseline as of ``on`` (default today), judge each
    cluster's health, publish."""
    log = get_run_logger()
    load_inventory(inventory_path)  # bad input fails here, before anything is contacted
    policy = load_policy(policy_path)
    on = on or dt.date.today()
    facts = inventory_scan(inventory_path, targets=targets)
    catalog = load_catalog()
    assessments = {
        f.target: assess(policy, catalog, f.engine, f.version, on) for f in facts if f.reachable and f.version
    }
    health = health_by_cluster(facts, policy)
    df = drift_frame(facts, assessments, health)
    summary = summary_markdown(df, on)
    published = publish(
        df,
        key="drift-report",
        title="dbpatch drift report",
        summary_md=summary,
        reports_dir=Path(reports_dir) if reports_dir else None,
        provenance=provenance(inventory_path, policy_path),
    )
    non_compliant = int(needs_attention(df).sum())
    log.info("drift report: %d of %d targets not compliant; %s", non_compliant, len(df), published.html)
    for h in health.values():
        if not h.healthy:
            log.warning("cluster %s: %s", h.cluster, h.sentence)
    result = DriftResult(
        rows=records(df), csv=published.csv, html=published.html, non_compliant=non_compliant, health=health
    )
    if fail_on_drift and non_compliant:
        raise DriftFound(f"{non_compliant} of {len(df)} targets are not compliant (see {published.html})")
    return result
