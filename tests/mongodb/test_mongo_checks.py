"""Pre-checks and parsers from small documents (no server): each check's failing and passing case."""

from __future__ import annotations

import datetime as dt

import pytest

from dbpatch.errors import NotSupported, PrecheckFailed
from tasks.mongodb import checks
from tasks.mongodb.facts import MemberFacts, MemberState, MongoFacts, oplog_window_hours, parse_members
from tasks.patching import CheckResult

T0 = dt.datetime(2026, 11, 24, 3, 0, 0, tzinfo=dt.UTC)


def _status(*members: tuple[str, int, float, int]) -> dict:
    """(name, state, health, seconds behind T0) → a replSetGetStatus document."""
    return {
        "set": "rs0",
        "members": [
            {
                "name": n,
                "state": s,
                "health": h,
                "optimeDate": (T0 - dt.timedelta(seconds=b)).replace(tzinfo=None),
            }
            for n, s, h, b in members
        ],
    }


def _node(target: str, state: MemberState, members=(), **kw) -> MongoFacts:
    return MongoFacts(target=target, reachable=True, version=kw.pop("version", "7.0.12"), state=state, set_name="rs0",
                      me=target, members=tuple(members), fcv=kw.pop("fcv", "7.0"), oplog_window_hours=48.0, **kw)  # fmt: skip


def _member(
    name: str, state: MemberState, lag: float | None = 0.0, health: bool = True, priority: float = 1.0
):
    return MemberFacts(name, state, health, T0, lag, priority=priority)


def _set(*members: MemberFacts, **kw) -> list[MongoFacts]:
    return [_node(m.name, m.state, members, **kw) for m in members]


def test_parse_members_measures_lag_behind_the_primary() -> None:
    status = _status(("a:1", 1, 1, 0), ("b:2", 2, 1, 7), ("c:3", 8, 0, 0))
    status["members"][2]["optimeDate"] = dt.datetime(1970, 1, 1)  # a DOWN member has no optime
    config = {
        "members": [
            {"host": "a:1", "priority": 2},
            {"host": "b:2", "priority": 1},
            {"host": "c:3", "priority": 0},
        ]
    }
    a, b, c = parse_members(status, config)
    assert (a.state, a.lag_seconds, a.priority) == (MemberState.PRIMARY, 0.0, 2.0)
    assert (b.state, b.lag_seconds, b.health) == (MemberState.SECONDARY, 7.0, True)
    assert (c.state, c.lag_seconds, c.health, c.optime_date, c.priority) == (
        MemberState.DOWN,
        None,
        False,
        None,
        0.0,
    )


def test_parse_members_without_primary_measures_against_the_freshest() -> None:
    members = parse_members(_status(("a:1", 2, 1, 3), ("b:2", 2, 1, 0)))
    assert [m.lag_seconds for m in members] == [3.0, 0.0]
    assert members[0].priority is None


def test_oplog_window_hours() -> None:
    assert oplog_window_hours(T0 - dt.timedelta(hours=30), T0) == 30.0
    assert oplog_window_hours(None, T0) is None


def test_healthy_set_passes_every_check() -> None:
    nodes = _set(_member("a:1", MemberState.PRIMARY), _member("b:2", MemberState.SECONDARY, 2.0))
    from dbpatch.models import Thresholds

    results = checks.run_prechecks(nodes, Thresholds(), expected_patch_hours=4)
    assert all(r.ok for r in results), [r.sentence for r in results if not r.ok]
    assert all(isinstance(r, CheckResult) and (r.node, r.phase) == ("rs0", "pre") for r in results)
    checks.require(results)


def test_unhealthy_member_fails_and_is_named_once() -> None:
    members = (_member("a:1", MemberState.PRIMARY), _member("b:2", MemberState.DOWN, None, health=False))
    nodes = [
        _node("a:1", MemberState.PRIMARY, members),
        MongoFacts.unreachable("mongo-2", "connection refused", me="b:2"),
    ]
    result = checks.check_members_healthy(nodes)
    assert (result.ok, result.measured) == (False, "1/2")
    assert result.sentence == "rs0: not healthy: b:2 (DOWN)"


def test_rollback_member_fails_the_state_check() -> None:
    nodes = _set(_member("a:1", MemberState.PRIMARY), _member("b:2", MemberState.ROLLBACK))
    result = checks.check_member_states(nodes)
    assert not result.ok and "b:2 is ROLLBACK" in result.sentence


def test_two_primaries_fail_the_single_primary_check() -> None:
    split = [_node("a:1", MemberState.PRIMARY, [_member("a:1", MemberState.PRIMARY)]),
             _node("b:2", MemberState.PRIMARY, [_member("b:2", MemberState.PRIMARY)])]  # fmt: skip
    result = checks.check_single_primary(split)
    assert (result.ok, result.measured) == (False, 2)
    none = _set(_member("a:1", MemberState.SECONDARY), _member("b:2", MemberState.SECONDARY))
    assert "found none" in checks.check_single_primary(none).sentence


def test_mixed_binaries_fail_the_fcv_check() -> None:
    nodes = _set(_member("a:1", MemberState.PRIMARY), _member("b:2", MemberState.SECONDARY))
    nodes[1] = _node("b:2", MemberState.SECONDARY, nodes[0].members, version="8.0.4")
    assert not checks.check_fcv(nodes).ok


def test_unknown_lag_fails() -> None:
    nodes = _set(_member("a:1", MemberState.PRIMARY), _member("b:2", MemberState.SECONDARY, None))
    assert not checks.check_lag(nodes, 10).ok


def test_require_raises_with_every_failed_sentence() -> None:
    bad = [CheckResult("x", "rs0", False, 1, 0, "x failed"), CheckResult("y", "rs0", False, 1, 0, "y failed")]
    with pytest.raises(PrecheckFailed, match="x failed; y failed"):
        checks.require(bad)


@pytest.mark.parametrize(("current", "target"), [("6.0", "7.0"), ("7.0", "8.0"), ("4.4", "5.0"), ("8.0", "9.0"),
                                                 ("7.0", "7.0"), ("8.2", "8.2")])  # fmt: skip
def test_major_step_allows_one_lts_step_or_a_patch(current: str, target: str) -> None:
    assert checks.check_major_step(current, target).ok


@pytest.mark.parametrize(
    ("current", "target", "why"),
    [("6.0", "8.0", "upgrade to 7.0"), ("7.0", "7.3", "rapid release"), ("7.3", "8.0", "rapid release"),
     ("8.0", "8.2", "rapid release"), ("8.0", "7.0", "downgrade"), ("5.0", "8.0", "upgrade to 6.0")],
)  # fmt: skip
def test_major_step_refuses_jumps_rapid_releases_and_downgrades(current: str, target: str, why: str) -> None:
    with pytest.raises(NotSupported, match=why):
        checks.check_major_step(current, target)
