"""Flows ``refresh-catalog`` and ``check-build``: keep the version catalog current and gate new builds.

Only fetching retries, and only when the failure is transient (network, HTTP 5xx/429): malformed data and
a "not approved" answer are answers, not errors to retry.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import Task
from pydantic import BaseModel, Field

from dbpatch.errors import NotSupported
from dbpatch.models import Engine, Target, load_inventory, load_policy
from tasks.catalog import decide_build, learn_installable, load_catalog
from tasks.catalog.refresh import SourceUnavailable, apply, fetch_json, parse_endoflife, product_url, safe_url
from tasks.catalog.store import OverlayMajor, OverlayRelease
from tasks.catalog.versions import canonical


def is_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """retry_condition_fn: retry only a ``SourceUnavailable`` marked transient."""
    try:
        state.result()
    except SourceUnavailable as exc:
        return exc.transient
    except Exception:
        return False
    return False


@task(
    retries=3,
    retry_delay_seconds=[5, 30, 120],
    retry_condition_fn=is_transient,
    task_run_name="fetch {engine}",
)
def fetch_cycles(base_url: str, engine: Engine, timeout: float = 30.0) -> Any:
    """GET ``<base>/api/<product>.json`` for one engine."""
    return fetch_json(product_url(base_url, engine), timeout)


@task
def parse_cycles(
    engine: Engine, data: Any, base_url: str, learned: dt.date
) -> tuple[list[OverlayRelease], list[OverlayMajor]]:
    return parse_endoflife(engine, data, safe_url(product_url(base_url, engine)), learned)


class RefreshParams(BaseModel):
    base_url: str = Field(
        default="https://endoflife.date", pattern=r"^https?://", description="API base URL."
    )
    engines: list[Engine] = Field(default_factory=lambda: list(Engine), min_length=1, description="Engines.")
    timeout: float = Field(default=30.0, ge=1, le=300, description="Seconds per HTTP request.")


@flow(name="refresh-catalog", log_prints=True)
def refresh_catalog(params: RefreshParams | None = None) -> dict[str, Any]:
    """Fetch every engine, validate all answers, then write the overlay once (all or nothing)."""
    params = params or RefreshParams()
    learned = dt.date.today()
    releases: list[OverlayRelease] = []
    majors: list[OverlayMajor] = []
    for engine in params.engines:
        data = fetch_cycles(params.base_url, engine, params.timeout)
        r, m = parse_cycles(engine, data, params.base_url, learned)
        releases += r
        majors += m
    result = apply(releases, majors, safe_url(params.base_url))
    get_run_logger().info(result.sentence)
    return {
        "source": result.source,
        "added": [f"{e} {v}" for e, v in result.added],
        "majors_updated": [f"{e} {m}" for e, m in result.majors_updated],
        "sentence": result.sentence,
    }


@flow(name="check-build", log_prints=True)
def check_build(engine: Engine, version: str, policy_path: str, on: dt.date | None = None) -> dict[str, Any]:
    """New-build gate for pipelines: the decision as a dict (``approved`` true/false and a one-line reason)."""
    engine = Engine(engine)
    decision = decide_build(
        load_policy(policy_path), load_catalog(), engine, canonical(engine, version), on or dt.date.today()
    )
    get_run_logger().info(decision.reason)
    return decision.as_dict()


@task(
    name="installable-versions", task_run_name="installable-{target.name}", retries=1, retry_delay_seconds=5
)
def installable_versions(target: Target, major: str) -> tuple[str, list[str]]:
    """What the target's own package source can install for ``major`` (apt-cache madison, dnf, lab builds)."""
    from tasks.engines import spec
    from tasks.host.factory import transport_for

    try:
        source = spec(target.engine).package_source(target)
    except NotSupported:
        raise NotSupported(f"{target.name}: no package source for {target.engine.value} yet") from None
    with transport_for(target) as transport:
        return source.name, source.available_versions(transport, major)


@flow(name="learn-installable", log_prints=True)
def learn_from_hosts(inventory_path: str, targets: list[str] | None = None) -> list[str]:
    """Teach the catalog every version the fleet's package sources offer (Debian ships 15.20 before the
    catalog snapshot knows it): scan for each target's major, ask its source, add what is new."""
    from flows.scan import inventory_scan

    log = get_run_logger()
    inventory = load_inventory(inventory_path).select(targets)
    by_name = {t.name: t for t in inventory.targets}
    catalog = load_catalog()
    offered: dict[tuple[Engine, str], set[str]] = {}
    for facts in inventory_scan(inventory_path, targets=targets):
        target = by_name[facts.target]
        if not facts.reachable or not facts.version or target.engine is Engine.SQLSERVER:
            continue
        source, installable = installable_versions(target, catalog.major_of(target.engine, facts.version))
        offered.setdefault((target.engine, source), set()).update(installable)
    sentences = []
    for (engine, source), versions in sorted(offered.items()):
        sentence = learn_installable(engine, sorted(versions), source).sentence
        log.info("%s from %s: %s", engine.value, source, sentence)
        sentences.append(f"{engine.value} ({source}): {sentence}")
    return sentences
