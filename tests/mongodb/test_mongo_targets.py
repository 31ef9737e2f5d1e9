"""Target resolution and the patch-only checks from small fixtures (no server): given facts → the goal or verdict."""

from __future__ import annotations

import pytest

from tasks.mongodb.facts import MemberFacts, MemberState, MongoFacts
from tasks.mongodb.targets import Goal, check_available, check_covers_set, check_fcv_for, resolve

APPROVED = {"6.0": "6.0.29", "7.0": "7.0.40", "8.0": "8.0.29"}


def goal(versions: list[str], requested: str | None = None) -> Goal:
    result = resolve("rs0", versions, requested, APPROVED.get)
    assert result is not None
    return result


def member(
    name: str, state: MemberState, version: str, fcv: str, members: tuple[str, ...] = ()
) -> MongoFacts:
    view = tuple(MemberFacts(m, MemberState.SECONDARY, True, None, 0.0) for m in members)
    return MongoFacts(target=name, reachable=True, version=version, state=state, set_name="rs0", me=name,
                      members=view, fcv=fcv)  # fmt: skip


def a_set(versions: list[str], fcv: str) -> list[MongoFacts]:
    names = tuple(f"h:{i}" for i in range(len(versions)))
    return [member(n, MemberState.PRIMARY if i == 0 else MemberState.SECONDARY, v, fcv, names)
            for i, (n, v) in enumerate(zip(names, versions, strict=True))]  # fmt: skip


@pytest.mark.parametrize(
    ("versions", "requested", "expected"),
    [(["7.0.12"] * 3, None, ("7.0", "7.0.40")), (["7.0.12"] * 3, "8.0", ("8.0", "8.0.29")),
     (["7.0.12"] * 3, "8.0.29", ("8.0", "8.0.29")), (["8.0.29", "7.0.12"], "8.0.29", ("8.0", "8.0.29"))],
)  # fmt: skip
def test_resolve_picks_the_approved_release_of_the_series(versions, requested, expected) -> None:
    g = goal(versions, requested)
    assert (g.series, g.version) == expected and g.current == "7.0" and not g.refused
    assert all(c.ok for c in g.checks)


def test_resolve_refuses_a_jump_and_flags_an_unapproved_request() -> None:
    jump = goal(["6.0.20"], "8.0.29")
    assert jump.refused == "MongoDB 6.0 → 8.0 skips a major release: upgrade to 7.0 (and its FCV) first"
    assert jump.version is None
    unapproved = goal(["7.0.12"], "7.0.39")
    assert [(c.name, c.ok) for c in unapproved.checks] == [("major_step", True), ("version_approved", False)]
    nothing = resolve("rs0", ["9.0.1"], None, APPROVED.get)
    assert (
        nothing
        and nothing.version is None
        and nothing.checks[1].sentence == "no approved MongoDB 9.0 release in the policy"
    )
    assert resolve("rs0", [], None, APPROVED.get) is None


def test_fcv_for_a_major_step_must_be_the_old_series() -> None:
    g = goal(["7.0.12"] * 3, "8.0.29")
    assert check_fcv_for("rs0", a_set(["7.0.12"] * 3, "7.0"), g, None).ok
    resumed = check_fcv_for(
        "rs0", a_set(["8.0.29", "7.0.12", "7.0.12"], "7.0"), goal(["8.0.29", "7.0.12"], "8.0.29"), None
    )
    assert resumed.ok
    lagging = check_fcv_for("rs0", a_set(["7.0.12"] * 3, "6.0"), g, None)
    assert not lagging.ok and "finish the last upgrade" in lagging.sentence


def test_fcv_behind_the_binaries_passes_only_when_a_recorded_roll_holds_it() -> None:
    facts, g = a_set(["8.0.4"] * 3, "7.0"), goal(["8.0.4"] * 3)
    assert not check_fcv_for("rs0", facts, g, None).ok
    held = check_fcv_for("rs0", facts, g, "7.0")
    assert (
        held.ok and held.sentence == "rs0: FCV 7.0 held after the roll to 8.0 (raise_fcv after the burn-in)"
    )


def test_inventory_must_cover_every_member_of_a_set_with_secondaries() -> None:
    facts = a_set(["7.0.12"] * 3, "7.0")
    assert check_covers_set("rs0", facts).ok
    missing = check_covers_set("rs0", facts[:2])
    assert (missing.ok, missing.measured, missing.sentence) == (
        False,
        "2/3",
        "rs0: members not in the inventory: h:2",
    )
    single = check_covers_set("rs0", a_set(["7.0.12"], "7.0"))
    assert not single.ok and "single-member set" in single.sentence


def test_available_names_what_the_source_offers() -> None:
    ok, missing = check_available({"a": ["7.0.39", "7.0.40"], "b": ["7.0.12"]}, "7.0.40")
    assert ok.ok and ok.sentence == "a: 7.0.40 is installable"
    assert not missing.ok and missing.sentence == "b: 7.0.40 is not offered (offered: 7.0.12)"
