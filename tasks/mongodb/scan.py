"""What ``tasks/scan.py`` calls for a MongoDB target: the member's facts as the engine-neutral ``NodeFacts``."""

from __future__ import annotations

from dbpatch.models import Target
from tasks.facts import NodeFacts
from tasks.mongodb.client import Login
from tasks.mongodb.facts import read_facts, to_node_facts


def read_node_facts(target: Target, login: Login | None = None) -> NodeFacts:
    """Facts of one member (role, lag, FCV, set name, oplog window, member state; ``simulated`` from the tag).

    ``login`` defaults to the ``MongoCredentials`` block the target names. Raises ``TargetUnreachable``, which
    the scan records as a fact.
    """
    if login is None:
        from tasks.credentials import mongodb_credentials

        login = mongodb_credentials(target)
    return to_node_facts(target, read_facts(target, **login.options()))
