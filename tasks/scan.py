"""The reusable scan task: facts of one target, with retries only for transient trouble."""

from __future__ import annotations

from prefect import task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from dbpatch.errors import NotSupported, TargetUnreachable
from dbpatch.models import Engine, Target
from tasks.facts import NodeFacts
from tasks.postgres.driver import TRANSIENT


class TransientUnreachable(TargetUnreachable):
    """Worth another try: the server is starting up, out of connection slots, or slow to answer."""


def _is_transient(task: object, task_run: TaskRun, state: State) -> bool:
    try:
        state.result()
    except TransientUnreachable:
        return True
    except Exception:  # noqa: BLE001 - anything else is an answer, not a reason to retry
        return False
    return False


def read_node_facts(target: Target) -> NodeFacts:
    """Dispatch to the engine's fact reader; unreachable and not supported are returned as facts, not raised."""
    if target.engine is Engine.MONGODB:
        return with_address(target, _read(target))
    return _read(target)


def with_address(target: Target, facts: NodeFacts) -> NodeFacts:
    """A MongoDB member's ``host:port``, so the set's view (which names members so) matches an unreachable one."""
    facts.extra.setdefault("address", f"{target.host}:{target.port}")
    return facts


def _read(target: Target) -> NodeFacts:
    try:
        if target.engine is Engine.POSTGRESQL:
            from tasks.credentials import postgres_credentials
            from tasks.postgres.facts import read_facts

            return read_facts(target, postgres_credentials(target))
        if target.engine is Engine.MONGODB:
            from tasks.mongodb.scan import read_node_facts as read_mongo

            return read_mongo(target)
        return NodeFacts.not_supported(target, f"{target.engine.value} scanning is not built yet")
    except NotSupported as exc:
        return NodeFacts.not_supported(target, str(exc))
    except TargetUnreachable as exc:
        if exc.reason in TRANSIENT:
            raise TransientUnreachable(exc.target, exc.reason) from None
        return NodeFacts.unreachable(target, exc.reason)


@task(
    name="collect-facts",
    task_run_name="facts-{target.name}",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_is_transient,
)
def collect_facts(target: Target) -> NodeFacts:
    return read_node_facts(target)
