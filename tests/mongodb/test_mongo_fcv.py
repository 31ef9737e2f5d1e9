"""A major step rolls the binaries and holds the FCV; ``raise_fcv`` raises it only after the burn-in."""

from __future__ import annotations

import datetime as dt

from tasks.mongodb import rollstate
from tasks.mongodb.fcv import FcvOutcome, raise_fcv
from tasks.patching import Outcome
from tests.mongodb.helpers import MongoLab, nodes, patcher, status, versions


def fcvs(lab: MongoLab) -> set[str]:
    return {f.fcv for f in lab.facts() if f.reachable}


def failed(run) -> dict[str, str]:
    return {c.name: c.sentence for c in run.checks if not c.ok}


def test_major_step_holds_fcv_and_raise_waits_for_the_burn_in(mongo_lab: MongoLab) -> None:
    run = patcher(mongo_lab, requested="8.0.29").execute()
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert run.sentence.endswith("FCV 7.0 held: raise_fcv after the burn-in")
    assert versions(mongo_lab) == ["8.0.29"] * 3 and fcvs(mongo_lab) == {"7.0"}
    post_fcv = next(c for c in run.checks if c.phase == "post" and c.name == "fcv")
    assert (post_fcv.ok, post_fcv.measured) == (True, "7.0")
    record = rollstate.load("rs-test")
    assert record and (record.previous_series, record.series, record.fcv_held) == ("7.0", "8.0", "7.0")

    early = raise_fcv("rs-test", nodes(mongo_lab), now=record.rolled_at + dt.timedelta(hours=1))
    assert early.outcome is FcvOutcome.REFUSED and set(failed(early)) == {"burn_in"}
    assert "the 168 h burn-in ends" in early.sentence and fcvs(mongo_lab) == {"7.0"}

    later = record.rolled_at + dt.timedelta(hours=169)
    planned = raise_fcv("rs-test", nodes(mongo_lab), now=later, dry_run=True)
    assert (
        planned.outcome is FcvOutcome.PLANNED
        and "setFeatureCompatibilityVersion 8.0, confirm: true" in planned.sentence
    )
    assert fcvs(mongo_lab) == {"7.0"}

    done = raise_fcv("rs-test", nodes(mongo_lab), now=later)
    assert done.outcome is FcvOutcome.RAISED, done.sentence
    assert (done.fcv_before, done.fcv_after) == ("7.0", "8.0") and fcvs(mongo_lab) == {"8.0"}
    assert status(mongo_lab)[0]["fcv"] == "8.0"
    raised = rollstate.load("rs-test")
    assert raised and raised.fcv_raised_at == later and raised.fcv_held is None
    assert raise_fcv("rs-test", nodes(mongo_lab), now=later).outcome is FcvOutcome.NOOP


def test_raise_is_refused_while_members_run_different_series(mongo_lab: MongoLab) -> None:
    port = str(mongo_lab.targets[2].port)
    for args in (("stop", port), ("install", "8.0.29", port), ("start", port)):
        mongo_lab.ctl(*args)
    run = raise_fcv("rs-test", nodes(mongo_lab), burn_in_hours=0)
    assert run.outcome is FcvOutcome.REFUSED
    assert failed(run)["binaries"] == "rs-test: members run 7.0, 8.0: roll the binaries first"
    assert fcvs(mongo_lab) == {"7.0"}


def test_raise_without_a_recorded_roll_needs_an_explicit_zero_burn_in(make_mongo_lab) -> None:
    lab = make_mongo_lab("8.0.29", fcv="7.0")  # binaries rolled by hand: dbpatch has no roll record
    refused = raise_fcv("rs-test", nodes(lab))
    assert refused.outcome is FcvOutcome.REFUSED
    assert failed(refused) == {
        "burn_in": "rs-test: no roll to 8.0 recorded by dbpatch: burn-in cannot be shown (burn-in 0 h overrides)"
    }
    assert raise_fcv("rs-test", nodes(lab), burn_in_hours=0).outcome is FcvOutcome.RAISED
    assert fcvs(lab) == {"8.0"}


def test_fcv_mismatch_blocks_a_patch_unless_a_recorded_major_roll_holds_it(make_mongo_lab) -> None:
    lab = make_mongo_lab("8.0.4", fcv="7.0")
    run = patcher(lab).execute()
    assert run.outcome is Outcome.SKIPPED and "finish the last upgrade" in failed(run)["fcv"]
    rolled = dt.datetime.now(dt.UTC)
    rollstate.save(rollstate.RollRecord("rs-test", "8.0.4", "8.0", "7.0", "7.0", rolled))
    run = patcher(lab).execute()
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert run.sentence.endswith("FCV 7.0 held: raise_fcv after the burn-in")
    assert versions(lab) == ["8.0.29"] * 3 and fcvs(lab) == {"7.0"}
    record = rollstate.load("rs-test")
    assert record and record.fcv_held == "7.0" and record.rolled_at > rolled  # the burn-in starts again
