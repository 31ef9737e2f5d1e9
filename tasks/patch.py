"""The reusable patch task: put one cluster on its engine's seam and run the one rolling procedure.

Never retried by Prefect's ``retries``: a retry of the flow or a rerun of the command is safe instead, because
the procedure reads the cluster's journal and reconciles an interrupted run before it plans again.
"""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, task

from dbpatch.errors import PatchError
from dbpatch.models import Policy, Target
from tasks.engines import adapter_for, spec
from tasks.patching import ClusterRun, Outcome, Strategy
from tasks.rolling import RollingProcedure


def procedure_for(
    cluster: str,
    targets: list[Target],
    policy: Policy,
    on: dt.date,
    *,
    requested: str | None = None,
    switch_back: bool = False,
    say=None,
    on_step=None,
) -> RollingProcedure:
    return RollingProcedure(
        adapter_for(cluster, targets, policy, on),
        requested=requested,
        switch_back=switch_back,
        say=say,
        simulated=any("simulated" in t.tags for t in targets),
        on_step=on_step,
    )


@task(name="patch-cluster", task_run_name="patch-{cluster}", retries=0)
def patch_cluster(
    cluster: str,
    targets: list[Target],
    policy: Policy,
    on: dt.date,
    dry_run: bool,
    requested: str | None = None,
    switch_back: bool = False,
    write_probe: bool = False,
) -> ClusterRun:
    log = get_run_logger()
    simulated = any("simulated" in t.tags for t in targets)
    sim = " (simulated)" if simulated else ""
    try:
        procedure = procedure_for(
            cluster, targets, policy, on, requested=requested, switch_back=switch_back, say=log.info
        )
        make_probe = spec(targets[0].engine).probe
        probe = make_probe(targets) if write_probe and not dry_run and make_probe else None
    except PatchError as exc:
        strategy = Strategy.ROLLING if len(targets) > 1 else Strategy.IN_PLACE
        run = ClusterRun(cluster, targets[0].engine.value, strategy, None, Outcome.FAILED, str(exc))
        run.simulated = simulated
        log.error("%s%s: %s", cluster, sim, run.sentence)
        return run
    if write_probe and probe is None and not dry_run:
        procedure.a.notes.append(f"no write probe for {targets[0].engine.value} yet")
    if probe is not None:
        probe.start()
    try:
        run = procedure.execute(dry_run=dry_run)
    finally:
        if probe is not None:
            procedure.run.probe = probe.stop()
    for line in run.describe_plan() if dry_run else [f"{cluster}{sim}: {run.outcome.value}: {run.sentence}"]:
        log.info(line)
    return run
