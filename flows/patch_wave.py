"""Flow ``patch_wave``: patch the selected clusters to their approved versions, concurrently up to
``max_concurrency``, halting when ``max_errors`` clusters have failed: clusters already in flight run to their
end (a cluster is never left half-switched), the rest are reported as halted."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from dbpatch import rules
from dbpatch.models import Target, load_inventory, load_policy
from reports.provenance import provenance
from reports.publish import publish_sections
from reports.run import checks_frame, clusters_frame, nodes_frame, steps_frame, summary_markdown
from tasks.patch import patch_cluster
from tasks.patching import ClusterRun, Outcome, Strategy
from tasks.schedule.gate import error_budget
from tasks.schedule.windows import record_duration, window_decision


class WaveParameters(BaseModel):
    """Parameters of one wave (the Prefect UI renders them as a form; bad values are refused before anything runs)."""

    model_config = ConfigDict(extra="forbid")

    inventory_path: str = Field(description="Inventory YAML.")
    policy_path: str = Field(description="Policy YAML.")
    targets: list[str] | None = Field(
        default=None, description="Only these targets or clusters (default: all)."
    )
    dry_run: bool = Field(default=False, description="Print the full plan and change nothing.")
    max_concurrency: int = Field(default=2, ge=1, le=50, description="Clusters patched at once.")
    max_errors: Annotated[str, AfterValidator(rules.max_errors)] = Field(
        default="1", description="Failed clusters that halt the wave: a count, or a percent from 0% to 100%."
    )
    switch_back: bool = Field(
        default=False, description="After a rolling patch, switch back to the original primary."
    )
    write_probe: bool = Field(
        default=False, description="Measure client downtime with a 10 ms write probe per cluster."
    )
    version: str | None = Field(
        default=None,
        pattern=r"^\d+(\.\d+){1,3}$",
        description="Patch to this version instead of the approved one (refused unless approved).",
    )
    on: Annotated[dt.date, BeforeValidator(rules.date)] | None = Field(
        default=None, description="Resolve the approved version as of this day, YYYY-MM-DD (default today)."
    )
    enforce_windows: bool = Field(
        default=False,
        description="Start a cluster only inside its maintenance window "
        "(before the cutoff, and only if its estimate fits); others are deferred.",
    )
    now: dt.datetime | None = Field(
        default=None, description="Clock for window decisions (tests); default: real time."
    )
    wave: str = Field(
        default="ad-hoc", pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Name of the wave in reports."
    )
    reports_dir: str | None = Field(
        default=None, description="Where report files go (default $DBPATCH_REPORTS)."
    )


@dataclass
class WaveResult:
    wave: str
    runs: list[ClusterRun]
    halted: bool
    report: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.runs)


def _halted(cluster: str, targets: list[Target], why: str) -> ClusterRun:
    strategy = Strategy.ROLLING if len(targets) > 1 else Strategy.IN_PLACE
    return ClusterRun(
        cluster,
        targets[0].engine.value,
        strategy,
        None,
        Outcome.HALTED,
        why,
        simulated=any("simulated" in t.tags for t in targets),
    )


def run_clusters(
    clusters: dict[str, list[Target]], params: WaveParameters, policy, on: dt.date
) -> tuple[list[ClusterRun], bool]:
    budget = error_budget(params.max_errors, len(clusters))
    pending = list(clusters.items())
    running: dict = {}
    runs: dict[str, ClusterRun] = {}
    failed = 0
    halted = False
    while pending or running:
        while pending and not halted and len(running) < params.max_concurrency:
            name, targets = pending.pop(0)
            if params.enforce_windows and not params.dry_run:
                decision = window_decision(policy, name, targets, params.now or dt.datetime.now(dt.UTC))
                if not decision.allowed:
                    runs[name] = _halted(name, targets, decision.sentence)
                    runs[name].outcome = Outcome.DEFERRED
                    continue
            fut = patch_cluster.submit(
                name,
                targets,
                policy,
                on,
                params.dry_run,
                requested=params.version,
                switch_back=params.switch_back,
                write_probe=params.write_probe,
            )
            running[fut] = name
        for fut in list(running):
            fut.wait(0.05)
            if fut.state.is_final():
                name = running.pop(fut)
                run = fut.result(raise_on_failure=False)
                if not isinstance(run, ClusterRun):
                    run = _halted(name, clusters[name], f"task crashed: {run}")
                    run.outcome = Outcome.FAILED
                runs[name] = run
                failed += run.failed
                if run.outcome is Outcome.PATCHED and run.started and run.ended:
                    record_duration(name, (run.ended - run.started).total_seconds())
                if failed >= budget and not halted:
                    halted = True
        if halted and pending:
            for name, targets in pending:
                runs[name] = _halted(
                    name,
                    targets,
                    f"not started: the wave halted after {failed} failed cluster(s) (max_errors {params.max_errors})",
                )
            pending = []
        if running:
            time.sleep(0.05)
    return [runs[name] for name in clusters], halted


@flow(name="patch-wave", task_runner=ThreadPoolTaskRunner(max_workers=50), log_prints=True)  # type: ignore[arg-type]
def patch_wave(params: WaveParameters) -> WaveResult:
    log = get_run_logger()
    inventory = load_inventory(params.inventory_path).select(params.targets)
    policy = load_policy(params.policy_path)
    on = params.on or dt.date.today()
    clusters = inventory.clusters()
    runs, halted = run_clusters(clusters, params, policy, on)
    summary = summary_markdown(runs, params.wave, params.dry_run)
    sections = {
        "clusters": clusters_frame(runs),
        "nodes": nodes_frame(runs),
        "steps": steps_frame(runs),
        "checks": checks_frame(runs),
    }
    files = publish_sections(
        sections,
        key=f"patch-{'plan' if params.dry_run else 'run'}",
        title=f"dbpatch {'plan' if params.dry_run else 'run'}: wave {params.wave}",
        summary_md=summary,
        reports_dir=Path(params.reports_dir) if params.reports_dir else None,
        provenance=provenance(params.inventory_path, params.policy_path),
    )
    log.info("wave %s: %s", params.wave, ", ".join(f"{r.cluster}={r.outcome.value}" for r in runs))
    return WaveResult(params.wave, runs, halted, files["html"], files)
