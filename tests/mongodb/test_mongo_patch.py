"""The rolling patcher against the simulator through real pymongo: pre-checks that skip, halts that leave the primary
untouched, rollback, majors refused, the dry run. Faults mid-run are injected in ``on_step`` (before a step runs)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tasks.mongodb import rollstate
from tasks.patching import Outcome, Step, StepStatus
from tests.mongodb.helpers import MongoLab, patcher, policy, states, status, versions

OLD, NEW = "7.0.12", "7.0.40"


def inject_before(lab: MongoLab, action: str, member: int, *fault: str) -> Callable[[Step], None]:
    """An ``on_step`` hook: inject ``fault`` on ``member`` right before its ``action`` step (in-process, so the
    fault lands well within the member's STARTUP2 second)."""
    target = lab.targets[member]

    def hook(step: Step) -> None:
        if step.action == action and step.node == target.name:
            lab.sim.fault(fault[0], None if fault[0] == "no-electable" else str(target.port))

    return hook


def actions(run) -> list[tuple[str, str, StepStatus]]:
    return [(s.step.node, s.step.action, s.status) for s in run.steps]


def test_dry_run_plans_every_step_with_exact_commands_and_changes_nothing(mongo_lab: MongoLab) -> None:
    run = patcher(mongo_lab).execute(dry_run=True)
    assert run.outcome is Outcome.PLANNED, run.sentence
    assert run.target_version == NEW and run.simulated
    assert (
        run.sentence
        == f"would patch mongo-test-2, mongo-test-3, then step down mongo-test-1 and patch it to {NEW}"
    )
    member = ["stop", "install", "start", "wait-secondary", "wait-caught-up"]
    assert [(s.node, s.action) for s in run.plan] == (
        [("mongo-test-2", a) for a in member] + [("mongo-test-3", a) for a in member]
        + [("mongo-test-1", "step-down"), ("mongo-test-1", "wait-primary")] + [("mongo-test-1", a) for a in member]
    )  # fmt: skip
    port = str(mongo_lab.targets[1].port)
    install = run.plan[1].commands[0].argv
    assert install[-6:] == ("ctl", "--state", mongo_lab.state_dir, "install", NEW, port)
    text = "\n".join(run.describe_plan())
    assert "(mongodb, simulated, rolling → 7.0.40)" in text and "secondaryCatchUpPeriodSecs: 10" in text
    assert run.steps == [] and versions(mongo_lab) == [OLD] * 3 and states(mongo_lab)[0] == "PRIMARY"


@pytest.mark.parametrize(
    ("fault", "member", "failed_check"),
    [(("recovering",), 2, "member_states"), (("lag", "--value", "30"), 1, "lag"), (("fcv-mismatch",), None, "fcv"),
     (("initial-sync",), 2, "no_initial_sync"), (("no-electable",), None, "electable_secondary")],
)  # fmt: skip
def test_failed_precheck_skips_the_set_and_changes_nothing(
    mongo_lab: MongoLab, fault: tuple[str, ...], member: int | None, failed_check: str
) -> None:
    port = [str(mongo_lab.targets[member].port)] if member is not None else []
    mongo_lab.ctl("fault", fault[0], *port, *fault[1:])
    run = patcher(mongo_lab).execute()
    assert run.outcome is Outcome.SKIPPED, run.sentence
    assert failed_check in {c.name for c in run.checks if not c.ok}
    assert run.sentence.startswith("pre-checks failed, nothing changed: ")
    assert run.steps == [] and run.after == run.before == {t.name: OLD for t in mongo_lab.targets}
    assert versions(mongo_lab) == [OLD] * 3 and states(mongo_lab)[0] == "PRIMARY"


def test_secondary_that_never_catches_up_halts_before_the_stepdown(mongo_lab: MongoLab) -> None:
    hook = inject_before(mongo_lab, "start", 1, "never-catches-up")  # optime frozen at the stop: ≥ 1 s behind
    run = patcher(mongo_lab, policy(max_lag_seconds=0.5, catchup_timeout_seconds=3), on_step=hook).execute()
    assert run.outcome is Outcome.FAILED, run.sentence
    assert "not caught up with mongo-test-1 within" in run.sentence
    assert run.sentence.endswith(
        "cluster halted before the stepDown, primary mongo-test-1 untouched on 7.0.12"
    )
    assert actions(run)[-1] == ("mongo-test-2", "wait-caught-up", StepStatus.FAILED)
    assert not any(s.step.action == "step-down" for s in run.steps)
    # halted on a healthy state: the member runs the new version as a SECONDARY, the primary is untouched
    assert versions(mongo_lab) == [OLD, NEW, OLD]
    assert states(mongo_lab) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    assert run.after == {"mongo-test-1": OLD, "mongo-test-2": NEW, "mongo-test-3": OLD}
    assert rollstate.load("rs-test") is None


def test_refused_stepdown_halts_with_the_primary_untouched(mongo_lab: MongoLab) -> None:
    hook = inject_before(mongo_lab, "step-down", 0, "no-electable")
    run = patcher(mongo_lab, on_step=hook).execute()
    assert run.outcome is Outcome.FAILED, run.sentence
    assert "replSetStepDown failed: No electable secondaries caught up" in run.sentence
    assert run.sentence.endswith("cluster halted, primary mongo-test-1 untouched (PRIMARY on 7.0.12)")
    assert actions(run)[-1] == ("mongo-test-1", "step-down", StepStatus.FAILED)
    assert versions(mongo_lab) == [OLD, NEW, NEW]
    assert states(mongo_lab) == ["PRIMARY", "SECONDARY", "SECONDARY"]


def test_member_that_does_not_start_is_rolled_back(mongo_lab: MongoLab) -> None:
    mongo_lab.ctl("fault", "crash-on-start", str(mongo_lab.targets[1].port))  # any other build crashes
    run = patcher(mongo_lab).execute()
    assert run.outcome is Outcome.ROLLED_BACK, run.sentence
    assert (
        "exited with code 14" in run.sentence
        and "mongo-test-2 rolled back to 7.0.12 (SECONDARY)" in run.sentence
    )
    assert run.sentence.endswith("primary mongo-test-1 untouched on 7.0.12")
    assert actions(run)[-2:] == [("mongo-test-2", "start", StepStatus.FAILED),
                                 ("mongo-test-2", "rollback", StepStatus.OK)]  # fmt: skip
    assert versions(mongo_lab) == [OLD] * 3  # mongo-test-3 was never touched: the set halted
    assert states(mongo_lab) == ["PRIMARY", "SECONDARY", "SECONDARY"]


def test_member_that_never_reaches_secondary_is_rolled_back(mongo_lab: MongoLab) -> None:
    hook = inject_before(mongo_lab, "wait-secondary", 2, "recovering")
    run = patcher(mongo_lab, policy(catchup_timeout_seconds=3), on_step=hook).execute()
    assert run.outcome is Outcome.ROLLED_BACK, run.sentence
    assert "mongo-test-3: not SECONDARY within" in run.sentence and "(last seen: RECOVERING)" in run.sentence
    assert actions(run)[-2:] == [("mongo-test-3", "wait-secondary", StepStatus.FAILED),
                                 ("mongo-test-3", "rollback", StepStatus.OK)]  # fmt: skip
    assert versions(mongo_lab) == [OLD, NEW, OLD]
    assert states(mongo_lab) == ["PRIMARY", "SECONDARY", "SECONDARY"]


def test_two_series_at_once_is_refused_with_one_line(make_mongo_lab) -> None:
    lab = make_mongo_lab("6.0.20")
    run = patcher(lab, requested="8.0.29").execute()
    assert run.outcome is Outcome.SKIPPED
    assert run.sentence == (
        "refused, nothing changed: MongoDB 6.0 → 8.0 skips a major release: upgrade to 7.0 (and its FCV) first"
    )
    assert [(c.name, c.ok) for c in run.checks] == [("major_step", False)]
    assert run.steps == [] and versions(lab) == ["6.0.20"] * 3


def test_requested_version_that_is_not_approved_is_refused(mongo_lab: MongoLab) -> None:
    run = patcher(mongo_lab, requested="7.0.39").execute()
    assert run.outcome is Outcome.SKIPPED
    assert "target 7.0.39 is not approved (approved MongoDB 7.0: 7.0.40)" in run.sentence
    assert run.steps == [] and versions(mongo_lab) == [OLD] * 3


def test_rolling_patch_records_the_roll_and_a_second_run_is_a_noop(mongo_lab: MongoLab) -> None:
    run = patcher(mongo_lab).execute()
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert versions(mongo_lab) == [NEW] * 3 and status(mongo_lab)[0]["state"] == "SECONDARY"
    post = {c.name: c for c in run.checks if c.phase == "post"}
    assert all(c.ok for c in post.values()) and post["smoke_write"].node in ("mongo-test-2", "mongo-test-3")
    assert post["fcv"].measured == "7.0"
    record = rollstate.load("rs-test")
    assert record and (record.version, record.series, record.previous_series, record.fcv) == (
        NEW,
        "7.0",
        "7.0",
        "7.0",
    )
    again = patcher(mongo_lab).execute()
    assert (
        again.outcome is Outcome.NOOP
        and again.sentence == "already at 7.0.40 and healthy"
        and again.steps == []
    )


def test_running_version_the_source_no_longer_offers_skips_the_set(make_mongo_lab) -> None:
    lab = make_mongo_lab("7.0.33")  # a patch missing from the (simulated) repository: no way back
    run = patcher(lab).execute()
    assert run.outcome is Outcome.SKIPPED
    failed = [c for c in run.checks if not c.ok]
    assert {c.name for c in failed} == {"rollback_available"} and len(failed) == 3
    assert (
        failed[0].sentence
        == "mongo-test-1: rollback to 7.0.33 is impossible: the package source no longer offers it"
    )
    assert run.steps == [] and versions(lab) == ["7.0.33"] * 3


def test_rollback_that_fails_is_needs_a_person(mongo_lab: MongoLab) -> None:
    """The new build crashes on start, and by the time of the rollback every other build crashes too."""
    mongo_lab.ctl("fault", "crash-on-start", str(mongo_lab.targets[1].port))
    target = mongo_lab.targets[1]

    def break_the_old_build_too(step: Step) -> None:
        if step.action == "rollback" and step.node == target.name:
            mongo_lab.sim.fault("crash-on-start", str(target.port))  # now only the new build "starts"

    run = patcher(mongo_lab, on_step=break_the_old_build_too).execute()
    assert run.outcome is Outcome.NEEDS_PERSON, run.sentence
    assert "mongo-test-2: rollback to 7.0.12 failed" in run.sentence and "needs a person" in run.sentence
    assert actions(run)[-1] == ("mongo-test-2", "rollback", StepStatus.FAILED)
    assert states(mongo_lab)[0] == "PRIMARY"  # the primary was never touched


def test_a_stepdown_with_no_new_primary_is_needs_a_person(mongo_lab: MongoLab) -> None:
    def no_election(step: Step) -> None:
        if step.action == "wait-primary":
            for t in mongo_lab.targets[1:]:
                mongo_lab.ctl("stop", str(t.port))

    run = patcher(mongo_lab, policy(catchup_timeout_seconds=2), on_step=no_election).execute()
    assert run.outcome is Outcome.NEEDS_PERSON, run.sentence
    assert "stepped down and no member became PRIMARY" in run.sentence
