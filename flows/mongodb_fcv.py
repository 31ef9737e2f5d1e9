"""Flow ``raise_fcv``: raise a MongoDB replica set's featureCompatibilityVersion after a major roll and its burn-in.

A separate, explicit operation (never part of ``patch_wave``): from 7.0 on, a raised FCV cannot be lowered without
MongoDB support. Refused, with the reason, unless every member runs the new series and the burn-in has passed
since dbpatch rolled the binaries.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from dbpatch.errors import ConfigError
from dbpatch.models import Engine, load_inventory
from tasks.mongodb.fcv import DEFAULT_BURN_IN_HOURS, FcvRun
from tasks.mongodb.fcv import raise_fcv as raise_cluster_fcv
from tasks.mongodb.node import mongo_nodes


@flow(name="mongodb-raise-fcv", log_prints=True)
def raise_fcv(
    inventory_path: str,
    cluster: str,
    burn_in_hours: Annotated[float, Field(ge=0, le=8760)] = DEFAULT_BURN_IN_HOURS,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> FcvRun:
    """Raise ``cluster``'s FCV to its binaries' series once the burn-in (hours since the roll) has passed.

    ``now`` replaces the clock for the burn-in (tests, or a "what if" check); ``dry_run`` only says what it would do.
    """
    log = get_run_logger()
    targets = load_inventory(inventory_path).select([cluster]).targets
    not_mongo = [t.name for t in targets if t.engine is not Engine.MONGODB]
    if not_mongo:
        raise ConfigError(f"raise_fcv: {cluster}: not a MongoDB replica set ({', '.join(not_mongo)})")
    when = now if now is None or now.tzinfo else now.replace(tzinfo=dt.UTC)
    run = raise_cluster_fcv(
        cluster, mongo_nodes(targets), burn_in_hours=burn_in_hours, now=when, dry_run=dry_run
    )
    sim = " (simulated)" if run.simulated else ""
    log.info("%s%s: %s: %s", cluster, sim, run.outcome.value, run.sentence)
    lines = [f"**{cluster}**{sim}: {run.outcome.value}: {run.sentence}", "", "| check | ok | measured | detail |",
             "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {c.name} | {c.ok} | {c.measured or ''} | {c.sentence} |" for c in run.checks]
    create_markdown_artifact(
        markdown="\n".join(lines), key="mongodb-raise-fcv", description="dbpatch raise_fcv"
    )
    return run
