"""The reusable scan task: facts of one target, with retries only for transient trouble."""

from __future__ import annotations

from prefect import task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from dbpatch.errors import NotSupported, TargetUnreachable
from dbpatch.models import Target
from tasks.engines import spec
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
    """The engine's fact reader (through the registry); unreachable and not supported are facts, not raised."""
    try:
        engine = spec(target.engine)
    except NotSupported:
        return NodeFacts.not_supported(target, f"{target.engine.value} scanning is not built yet")
    try:
        return engine.annotate(target, engine.read_facts(target))
    except NotSupported as exc:
        return NodeFacts.not_supported(target, str(exc))
    except TargetUnreachable as exc:
        if exc.reason in TRANSIENT:
            raise TransientUnreachable(exc.target, exc.reason) from None
        return engine.annotate(target, NodeFacts.unreachable(target, exc.reason))


@task(
    name="collect-facts",
    task_run_name="facts-{target.name}",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_is_transient,
)
def collect_facts(target: Target) -> NodeFacts:
    return read_node_facts(target)
