"""What ``tasks/scan.py`` calls for a MongoDB target: the member's facts as the engine-neutral ``NodeFacts``."""

from __future__ import annotations

from typing import Any

from dbpatch.models import Target
from tasks.facts import NodeFacts
from tasks.mongodb.client import Login
from tasks.mongodb.facts import MemberFacts, MemberState, MongoFacts, read_facts, to_node_facts


def read_node_facts(target: Target, login: Login | None = None) -> NodeFacts:
    """Facts of one member (role, lag, FCV, set name, oplog window, member state; ``simulated`` from the tag).

    ``login`` defaults to the ``MongoCredentials`` block the target names. Raises ``TargetUnreachable``, which
    the scan records as a fact.
    """
    if login is None:
        from tasks.credentials import mongodb_credentials

        login = mongodb_credentials(target)
    facts = read_facts(target, **login.options())
    out = to_node_facts(target, facts)
    out.extra.update(me=facts.me, members=[_member_record(m) for m in facts.members])
    return out


def _member_record(m: MemberFacts) -> dict[str, Any]:
    """One member of the set's view as plain data (kept in ``NodeFacts.extra`` for the drift report's health)."""
    return {"name": m.name, "state": m.state.name, "health": m.health, "lag_seconds": m.lag_seconds,
            "priority": m.priority, "is_self": m.is_self, "sync_source": m.sync_source}  # fmt: skip


def mongo_facts(facts: NodeFacts) -> MongoFacts:
    """The ``MongoFacts`` the pre-checks read, rebuilt from a scanned ``NodeFacts`` (the inverse of the scan)."""
    address = facts.extra.get("me") or facts.extra.get("address")
    if not facts.reachable:
        return MongoFacts.unreachable(
            facts.target, (facts.error or "").removeprefix("unreachable: "), me=address
        )
    state = facts.extra.get("member_state")
    members = tuple(
        MemberFacts(
            name=str(m["name"]),
            state=_state(m.get("state")) or MemberState.UNKNOWN,
            health=bool(m.get("health")),
            optime_date=None,
            lag_seconds=m.get("lag_seconds"),
            priority=m.get("priority"),
            is_self=bool(m.get("is_self")),
            sync_source=m.get("sync_source"),
        )
        for m in facts.extra.get("members", [])
    )
    return MongoFacts(
        target=facts.target,
        reachable=True,
        version=facts.version,
        state=_state(state),
        set_name=facts.extra.get("set_name"),
        me=address,
        members=members,
        fcv=facts.extra.get("fcv"),
        oplog_window_hours=facts.extra.get("oplog_window_hours"),
        initial_sync=bool(facts.extra.get("initial_sync")),
    )


def _state(name: Any) -> MemberState | None:
    return MemberState.__members__.get(name) if isinstance(name, str) else None
