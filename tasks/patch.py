"""The reusable patch task: build the engine's patcher for one cluster and run it. Never retried by Prefect:
patching is not blindly repeatable; a re-run of the wave is (nodes already at the target are no-ops)."""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, task

from dbpatch.errors import PatchError
from dbpatch.models import Engine, Policy, Target
from tasks.catalog import approved_release, load_catalog
from tasks.patching import ClusterRun, Outcome, Strategy


def approved_for(policy: Policy, engine: Engine, on: dt.date):
    catalog = load_catalog()

    def resolve(major: str) -> str | None:
        release = approved_release(policy, catalog, engine, major, on)
        return release.version if release else None

    return resolve


def build_postgres(
    cluster: str,
    targets: list[Target],
    policy: Policy,
    on: dt.date,
    *,
    requested: str | None,
    switch_back: bool,
    write_probe: bool,
):
    from tasks.credentials import postgres_credentials
    from tasks.host.factory import transport_for
    from tasks.postgres.node import PgNode
    from tasks.postgres.packages import package_source
    from tasks.postgres.patcher import PostgresClusterPatcher
    from tasks.postgres.probe import WriteProbe

    creds = postgres_credentials(targets[0])
    nodes = [PgNode(t, postgres_credentials(t), transport_for(t), package_source(t)) for t in targets]
    probe = WriteProbe(targets, creds) if write_probe else None
    return PostgresClusterPatcher(
        cluster,
        nodes,
        policy,
        approved_for(policy, Engine.POSTGRESQL, on),
        requested=requested,
        switch_back=switch_back,
        probe=probe,
    )


def build_patcher(cluster: str, targets: list[Target], policy: Policy, on: dt.date, **options):
    engine = targets[0].engine
    if engine is Engine.POSTGRESQL:
        return build_postgres(cluster, targets, policy, on, **options)
    if engine is Engine.MONGODB:
        from tasks.mongodb.patch import build_mongodb

        return build_mongodb(cluster, targets, policy, on, **options)
    raise PatchError(f"{cluster}: patching {engine.value} is not implemented yet")


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
    try:
        patcher = build_patcher(
            cluster,
            targets,
            policy,
            on,
            requested=requested,
            switch_back=switch_back,
            write_probe=write_probe and not dry_run,
        )
    except PatchError as exc:
        run = ClusterRun(
            cluster,
            targets[0].engine.value,
            Strategy.ROLLING if len(targets) > 1 else Strategy.IN_PLACE,
            None,
            Outcome.FAILED,
            str(exc),
        )
        log.error("%s: %s", cluster, run.sentence)
        return run
    run = patcher.execute(dry_run=dry_run)
    run.simulated = any("simulated" in t.tags for t in targets)
    sim = " (simulated)" if run.simulated else ""
    for line in run.describe_plan() if dry_run else [f"{cluster}{sim}: {run.outcome.value}: {run.sentence}"]:
        log.info(line)
    return run
