"""Flow ``patch_cycle``: the monthly cycle on the 3rd Saturday.

Phase ``start``: scan and drift report → canary wave (policy: how many targets, tag ``canary`` first, else the
lowest environment) → schedule phase ``waves`` at canary end + bake (12 h by default) as its own flow run, so no
worker is held during the bake. Phase ``waves``: health re-check of the canary → the remaining waves in the
policy's order, each inside its maintenance window, with ``max_concurrency``/``max_errors``, and a person's
approval for environments that require it. A failed or unhealthy canary stops the cycle. A cycle can be run
again at any point: clusters already at the approved version are no-ops.

One cycle at a time: the cycle holds the lock ``cycle-fleet`` (``dbpatch/locks.py``) from its start until it has
finished, across the bake and the approvals; a second ``phase=start`` meanwhile is refused. A canary is taken
from an approval-gated environment only when nothing else is left, and only after that approval. A refused or
timed-out approval ends the run Failed (``CycleNotApproved``) once the report is published.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Annotated, Any, Literal, cast

from prefect import flow, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Completed
from pydantic import Field

from dbpatch import locks
from dbpatch.errors import ConfigError, PatchError
from dbpatch.models import Inventory, Policy, load_inventory, load_policy
from flows.drift import drift_report
from flows.patch_wave import WaveParameters, patch_wave
from flows.scan import inventory_scan
from reports.provenance import flow_run, provenance
from reports.publish import publish
from tasks.catalog import mark_canary_validated
from tasks.cycle import (
    CycleState,
    canary_clusters,
    clusters_to_patch,
    cycle_finished,
    gated_environments,
    health_checks,
    waves_in_order,
)
from tasks.patching import Outcome
from tasks.schedule.calendar import blackout_skip
from tasks.schedule.notify import NotifyEvent, notify
from tasks.schedule.windows import next_window_start


class WaveApproval(RunInput):
    """What a person answers in the Prefect UI before a wave that needs approval."""

    approve: bool = Field(description="Start this wave now.")
    approver: str = Field(min_length=1, max_length=100, description="Your name (kept in the cycle report).")
    comment: str = Field(default="", max_length=1000, description="Why (kept in the cycle report).")


class CycleNotApproved(PatchError):
    """A wave's approval was refused or timed out: the run ends Failed, after its report is published."""

    def __init__(self, sentence: str, state: dict[str, Any]):
        super().__init__(sentence)
        self.state = state


def webhook_from(block: str | None) -> str | None:
    """The webhook URL, from a Prefect Secret block only: webhook URLs carry tokens, and a flow parameter is
    stored in plain text in the Prefect database (UI, API)."""
    if not block:
        return None
    from prefect.blocks.system import Secret

    try:
        return str(cast(Secret, Secret.load(block)).get())
    except ValueError:
        raise ConfigError(f"parameters: webhook_block: no Secret block named {block!r}") from None


def _notify(url: str | None, event: NotifyEvent, payload: dict[str, Any]) -> None:
    if url:
        notify(url, event, payload)


def _wave(
    inventory_path: str,
    policy_path: str,
    clusters: list[str],
    name: str,
    policy: Policy,
    *,
    enforce_windows: bool,
    now: dt.datetime | None,
    dry_run: bool = False,
    write_probe: bool = False,
):
    return patch_wave(
        WaveParameters(
            inventory_path=inventory_path,
            policy_path=policy_path,
            targets=clusters,
            wave=name,
            dry_run=dry_run,
            max_concurrency=policy.waves.max_concurrency,
            max_errors=policy.waves.max_errors,
            enforce_windows=enforce_windows,
            now=now,
            write_probe=write_probe and not dry_run,
        )
    )


def schedule_waves(deployment: str, parameters: dict[str, Any], when: dt.datetime) -> str:
    """Create the ``waves`` run of the cycle's own deployment, scheduled at ``when``; returns its id."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    run = cast(
        FlowRun,
        run_deployment(
            name=deployment, parameters=parameters, scheduled_time=when, timeout=0, as_subflow=False
        ),
    )
    return str(run.id)


def _own_deployment() -> str | None:
    from prefect.runtime import deployment, flow_run

    if not deployment.id:
        return None
    return f"{flow_run.flow_name}/{deployment.name}"


def _start(state: CycleState, inventory: Inventory, policy: Policy, p: dict[str, Any], log) -> CycleState:
    drift = drift_report(p["inventory_path"], p["policy_path"], targets=None)
    todo = clusters_to_patch(inventory, drift.rows)
    state.todo = sorted(todo)
    _notify(
        p["webhook_url"],
        NotifyEvent.CYCLE_STARTED,
        {"cycle": state.cycle_id, "clusters_to_patch": state.todo},
    )
    if not todo:
        state.finish("nothing to patch: every cluster is at its approved version")
        return state
    state.canary = canary_clusters(inventory, policy, todo)
    log.info("cycle %s: canary %s, then waves %s", state.cycle_id, state.canary, policy.waves.order)
    if not state.canary:  # canary.count 0: no canary, no bake
        state.canary_finished = state.bake_until = dt.datetime.now(dt.UTC)
        return state
    gated = gated_environments(inventory, policy, state.canary)
    if gated and not _approved(state, "canary", state.canary, inventory, policy, p, log, gated):
        state.finish(f"canary not approved ({', '.join(gated)} needs approval): {_refusal(state, 'canary')}")
        return state
    wave = _wave(
        p["inventory_path"],
        p["policy_path"],
        state.canary,
        "canary",
        policy,
        enforce_windows=p["enforce_windows"],
        now=p["now"],
        write_probe=p["write_probe"],
    )
    state.record_wave("canary", wave.runs, wave.report)
    ok = all(r.outcome in (Outcome.PATCHED, Outcome.NOOP) for r in wave.runs)
    _notify(
        p["webhook_url"],
        NotifyEvent.CANARY_RESULT,
        {"cycle": state.cycle_id, "ok": ok, "clusters": state.wave_rows("canary")},
    )
    if not ok:
        state.finish(
            f"canary failed: {'; '.join(f'{r.cluster}: {r.outcome.value}: {r.sentence}' for r in wave.runs)}",
            failed=True,
        )
        _notify(p["webhook_url"], NotifyEvent.FAILURE, {"cycle": state.cycle_id, "reason": state.result})
        return state
    for r in wave.runs:
        if r.outcome is Outcome.PATCHED and r.target_version:
            mark_canary_validated(
                inventory.clusters()[r.cluster][0].engine, r.target_version, dt.datetime.now(dt.UTC)
            )
    state.canary_finished = dt.datetime.now(dt.UTC)
    state.bake_until = state.canary_finished + dt.timedelta(hours=p["bake_hours"])
    return state


def _waves(state: CycleState, inventory: Inventory, policy: Policy, p: dict[str, Any], log) -> CycleState:
    facts = inventory_scan(p["inventory_path"], targets=state.canary)
    checks = health_checks(facts, state.canary_versions(), policy.thresholds)
    state.health = [c.record() for c in checks]
    bad = [c for c in checks if not c.ok]
    if bad:
        state.finish("canary unhealthy after the bake: " + "; ".join(c.sentence for c in bad), failed=True)
        _notify(p["webhook_url"], NotifyEvent.FAILURE, {"cycle": state.cycle_id, "reason": state.result})
        return state
    log.info("cycle %s: canary healthy after the bake", state.cycle_id)
    remaining = state.deferred or [c for c in state.todo if c not in state.canary]
    state.deferred = []
    first_row = len(state.rows)  # rows of this run only: a resumed run does not count old deferrals again
    for env, clusters in waves_in_order(inventory, policy, remaining):
        if env in policy.waves.approval_required:
            if not _approved(state, env, clusters, inventory, policy, p, log):
                continue
        wave = _wave(
            p["inventory_path"],
            p["policy_path"],
            clusters,
            env,
            policy,
            enforce_windows=p["enforce_windows"],
            now=p["now"],
            write_probe=p["write_probe"],
        )
        state.record_wave(env, wave.runs, wave.report)
        _notify(
            p["webhook_url"],
            NotifyEvent.WAVE_RESULT,
            {"cycle": state.cycle_id, "wave": env, "clusters": state.wave_rows(env)},
        )
        if wave.halted:
            state.finish(
                f"wave {env} halted after {wave.failed} failed cluster(s); later waves not started",
                failed=True,
            )
            _notify(p["webhook_url"], NotifyEvent.FAILURE, {"cycle": state.cycle_id, "reason": state.result})
            return state
    deferred = [r for r in state.rows[first_row:] if r["outcome"] == Outcome.DEFERRED.value]
    refused = p["refused"]  # approvals refused or timed out in this run (a resumed run asks again)
    sentences = []
    if refused:
        sentences.append("cycle ended without approval for " + "; ".join(_refusal(state, w) for w in refused))
    if deferred:
        sentences.append(
            f"{len(deferred)} cluster(s) deferred by their maintenance window: "
            + "; ".join(f"{r['cluster']}: {r['detail']}" for r in deferred)
        )
        state.deferred = sorted({r["cluster"].removesuffix(" (simulated)") for r in deferred})
    state.finish("; ".join(sentences) or "cycle complete")
    return state


def _refusal(state: CycleState, wave: str) -> str:
    a = state.approvals.get(wave, {})
    who = f" by {a['approver']}" if a.get("approver") else ""
    return f"{wave}: {a.get('comment', '')}{who} at {a.get('at', '?')}"


def _approved(
    state: CycleState,
    wave: str,
    clusters: list[str],
    inventory: Inventory,
    policy: Policy,
    p: dict,
    log,
    environments: list[str] | None = None,
) -> bool:
    """Show the wave's plan and wait for a person's answer in the Prefect UI; record who, when and why."""
    plan = _wave(
        p["inventory_path"],
        p["policy_path"],
        clusters,
        f"{wave}-plan",
        policy,
        enforce_windows=False,
        now=p["now"],
        dry_run=True,
    )
    lines = [line for r in plan.runs for line in r.describe_plan()]
    _notify(
        p["webhook_url"],
        NotifyEvent.APPROVAL_NEEDED,
        {"cycle": state.cycle_id, "wave": wave, "environments": environments or [wave], "plan": lines},
    )
    log.info(
        "wave %s waits for approval in the Prefect UI (timeout %ss); plan (%s):\n%s",
        wave,
        p["approval_timeout_seconds"],
        plan.report,
        "\n".join(lines),
    )
    try:
        answer = pause_flow_run(
            wait_for_input=WaveApproval,
            timeout=p["approval_timeout_seconds"],
            poll_interval=min(10, p["approval_timeout_seconds"]),
            key=f"approve-{wave}",
        )
    except FlowPauseTimeout:
        why = f"approval timed out after {p['approval_timeout_seconds']}s"
        state.record_approval(wave, False, "", why)
        p["refused"].append(wave)
        state.skip_wave(wave, clusters, f"{why}: wave skipped")
        return False
    if not answer.approve:
        state.record_approval(wave, False, answer.approver, f"refused: {answer.comment or 'no comment'}")
        p["refused"].append(wave)
        state.skip_wave(
            wave, clusters, f"approval refused by {answer.approver}: {answer.comment or 'no comment'}"
        )
        return False
    state.record_approval(wave, True, answer.approver, answer.comment or "approved")
    return True


@flow(name="patch-cycle", log_prints=True)
def patch_cycle(
    inventory_path: str,
    policy_path: str,
    phase: Literal["start", "waves"] = "start",
    cycle_id: str | None = None,
    bake_hours: Annotated[float | None, Field(ge=0, le=168)] = None,
    max_inline_bake_seconds: Annotated[float, Field(ge=0, le=3600)] = 0,
    enforce_windows: bool = True,
    now: dt.datetime | None = None,
    approval_timeout_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] = 4 * 3600,
    webhook_block: str | None = None,
    write_probe: bool = False,
) -> dict[str, Any]:
    """Run (or resume with ``phase='waves'``) one monthly patch cycle. Returns the cycle state as a dict.

    The webhook comes only from the Secret block ``webhook_block``: a URL is never a parameter (it would be
    stored with its token in the Prefect database). ``write_probe`` measures each cluster's client downtime."""
    log = get_run_logger()
    inventory, policy = load_inventory(inventory_path), load_policy(policy_path)
    p: dict[str, Any] = {
        "inventory_path": inventory_path,
        "policy_path": policy_path,
        "enforce_windows": enforce_windows,
        "now": now,
        "webhook_url": webhook_from(webhook_block),
        "webhook_block": webhook_block,
        "approval_timeout_seconds": approval_timeout_seconds,
        "bake_hours": policy.canary.bake_hours if bake_hours is None else bake_hours,
        "write_probe": write_probe,
        "refused": [],  # waves whose approval this run was refused or timed out
    }
    if phase == "start":
        state = CycleState.new(cycle_id or f"{dt.date.today().isoformat()}-{uuid.uuid4().hex[:6]}")
        skipped = blackout_skip(policy, now or dt.datetime.now(dt.UTC)) if enforce_windows else None
        if skipped:  # visible in the UI as a run in state "Skipped", not as a normal completed cycle
            state.finish(skipped)
            _notify(p["webhook_url"], NotifyEvent.CYCLE_SKIPPED, {"cycle": state.cycle_id, "reason": skipped})
            log.info("cycle %s: %s", state.cycle_id, skipped)
            return cast(
                dict[str, Any], Completed(name="Skipped", message=skipped, data=_finish(state, p, log))
            )
        if CycleState.path(state.cycle_id).is_file():
            raise ConfigError(
                f"parameters: cycle_id: cycle {state.cycle_id!r} exists; resume it with phase 'waves'"
            )
        _lock(state, log)
        try:
            state = _start(state, inventory, policy, p, log)
        except BaseException as exc:
            _interrupted(state, exc, p, log)
            raise
        state.save()
        if state.result is not None:
            return _finish(state, p, log)
        assert state.bake_until is not None
        wait = (state.bake_until - dt.datetime.now(dt.UTC)).total_seconds()
        deployment = _own_deployment()
        if deployment and wait > max_inline_bake_seconds:
            params = {
                "inventory_path": inventory_path,
                "policy_path": policy_path,
                "phase": "waves",
                "cycle_id": state.cycle_id,
                "enforce_windows": enforce_windows,
                "approval_timeout_seconds": approval_timeout_seconds,
                "webhook_block": webhook_block,
                "write_probe": write_probe,
            }
            state.waves_run = schedule_waves(deployment, params, state.bake_until)
            state.save()
            log.info(
                "cycle %s: bake until %s; waves scheduled as flow run %s",
                state.cycle_id,
                state.bake_until,
                state.waves_run,
            )
            return state.to_dict()
        if wait > max_inline_bake_seconds:
            state.save()
            log.info(
                "cycle %s: bake until %s; then run: dbpatch cycle --phase waves --cycle-id %s",
                state.cycle_id,
                state.bake_until,
                state.cycle_id,
            )
            return state.to_dict()
        log.info("cycle %s: baking %.0f s", state.cycle_id, max(wait, 0))
        try:
            time.sleep(max(wait, 0))
        except BaseException as exc:  # Ctrl-C during an inline bake: reported, and the fleet is free again
            _interrupted(state, exc, p, log)
            raise
    else:
        if not cycle_id:
            raise ConfigError("parameters: cycle_id: required for phase 'waves'")
        state = CycleState.load(cycle_id)
        if state.bake_until and dt.datetime.now(dt.UTC) < state.bake_until:
            raise ConfigError(
                f"parameters: phase: cycle {cycle_id} bakes until {state.bake_until.isoformat(timespec='seconds')}"
            )
        try:
            _lock(state, log)
        except locks.CycleLocked:
            if not state.deferred:
                raise
            return _superseded(state, p, log)
    try:
        state = _waves(state, inventory, policy, p, log)
    except BaseException as exc:
        _interrupted(state, exc, p, log)
        raise
    if state.deferred:
        _resume_in_next_window(state, inventory, policy, p, log)
    state.save()
    return _finish(state, p, log)


def _superseded(state: CycleState, p: dict[str, Any], log) -> dict[str, Any]:
    """A deferred cycle's resume while a newer cycle runs: the newer one's drift report has the deferred
    clusters, so this run does nothing and says so (state "Skipped")."""
    held = locks.holder()
    why = f"skipped: superseded by {held.sentence() if held else 'a newer cycle'}, which takes the deferred clusters"
    state.finish(why)
    state.deferred = []
    log.info("cycle %s: %s", state.cycle_id, why)
    # Prefect unwraps a returned state: the run shows "Skipped", callers still get the state dict
    return cast(dict[str, Any], Completed(name="Skipped", message=why, data=_finish(state, p, log)))


def _lock(state: CycleState, log) -> None:
    """Take (or keep) the fleet's cycle lock for this cycle; refused while another cycle is unfinished."""
    run_id, _ = flow_run()
    replaced = locks.acquire(state.cycle_id, cycle_finished, flow_run=run_id or None)
    if replaced is not None:
        log.info("cycle %s: took over the cycle lock of finished %s", state.cycle_id, replaced.sentence())
    state.lock = locks.CYCLE_LOCK
    if run_id and run_id not in state.flow_runs:
        state.flow_runs.append(run_id)
    state.save()


def _interrupted(state: CycleState, exc: BaseException, p: dict[str, Any], log) -> None:
    """A run that ends by an exception (or Ctrl-C) still leaves its report, marked interrupted, and frees the
    fleet: the state says so, and a new cycle may start (clusters already patched are no-ops)."""
    state.finish(f"interrupted: {type(exc).__name__}: {exc}"[:500], failed=True)
    state.deferred = []
    state.save()
    try:
        _finish(state, p, log, interrupted=True)
    except Exception as report_exc:  # noqa: BLE001 - the original exception is the one to raise
        log.error("cycle %s: interrupted report not written: %s", state.cycle_id, report_exc)


def _resume_in_next_window(
    state: CycleState, inventory: Inventory, policy: Policy, p: dict[str, Any], log
) -> None:
    """Deferred clusters are not forgotten: the cycle's waves run again when their next window opens."""
    now = p["now"] or dt.datetime.now(dt.UTC)
    when = next_window_start(policy, [inventory.clusters()[c][0] for c in state.deferred], now)
    deployment = _own_deployment()
    if when is None:
        log.warning("cycle %s: deferred clusters have no upcoming window", state.cycle_id)
        return
    state.resume_at = when
    if deployment:
        params = {
            "inventory_path": p["inventory_path"],
            "policy_path": p["policy_path"],
            "phase": "waves",
            "cycle_id": state.cycle_id,
            "enforce_windows": True,
            "approval_timeout_seconds": p["approval_timeout_seconds"],
            "webhook_block": p["webhook_block"],
            "write_probe": p["write_probe"],
        }
        state.waves_run = schedule_waves(deployment, params, when)
        log.info(
            "cycle %s: %d deferred cluster(s) resume at %s (flow run %s)",
            state.cycle_id,
            len(state.deferred),
            when,
            state.waves_run,
        )
    else:
        log.info(
            "cycle %s: deferred clusters resume at %s: dbpatch cycle --phase waves --cycle-id %s",
            state.cycle_id,
            when,
            state.cycle_id,
        )


ROW_COLUMNS = [
    "wave",
    "cluster",
    "outcome",
    "before",
    "after",
    "started",
    "ended",
    "max_write_gap_s",
    "lost_writes",
    "detail",
    "report",
]


def _stamp(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "—"


def summary_markdown(state: CycleState) -> str:
    """The cycle report's summary: result, timestamps, canary, approvals (who, when, why)."""
    lines = [
        f"Cycle **{state.cycle_id}**: {state.result}",
        "",
        f"Canary: {', '.join(state.canary) or 'none'}.",
        "",
        "| started | canary finished | bake until | finished |",
        "|---|---|---|---|",
        f"| {_stamp(state.started)} | {_stamp(state.canary_finished)} | {_stamp(state.bake_until)} | "
        f"{_stamp(state.finished)} |",
    ]
    if state.approvals:
        lines += ["", "| wave | approved | approver | at | comment |", "|---|---|---|---|---|"]
        for wave, a in state.approvals.items():
            if isinstance(a, dict):
                lines.append(
                    f"| {wave} | {'yes' if a.get('approved') else 'no'} | {a.get('approver') or '—'} | "
                    f"{a.get('at', '')} | {str(a.get('comment', '')).replace('|', '/')} |"
                )
    return "\n".join(lines)


def _finish(state: CycleState, p: dict[str, Any], log, interrupted: bool = False) -> dict[str, Any]:
    import pandas as pd

    df = pd.DataFrame([{c: r.get(c, "") for c in ROW_COLUMNS} for r in state.rows], columns=ROW_COLUMNS)
    published = publish(
        df,
        key="patch-cycle",
        title=f"dbpatch patch cycle {state.cycle_id}" + (" (INTERRUPTED)" if interrupted else ""),
        summary_md=summary_markdown(state),
        status_column="outcome",
        provenance=provenance(
            p["inventory_path"],
            p["policy_path"],
            cycle_id=state.cycle_id,
            cycle_flow_runs=", ".join(state.flow_runs),
        ),
    )
    state.report = str(published.html)
    if state.result is not None and state.lock:  # finished, or only deferred clusters wait: the fleet is free
        locks.release(state.cycle_id, name=state.lock)
        state.lock = None
    state.save()
    log.info("cycle %s: %s (report %s)", state.cycle_id, state.result, published.html)
    if p["refused"] and not interrupted:
        raise CycleNotApproved(f"cycle {state.cycle_id}: {state.result}", state.to_dict())
    return state.to_dict()
