"""What ``tasks/patch.py`` calls for a MongoDB cluster: build the replica-set patcher from inventory targets."""

from __future__ import annotations

import datetime as dt

from dbpatch.models import Engine, Policy, Target
from tasks.mongodb.client import Login
from tasks.mongodb.node import MongoNode
from tasks.mongodb.packages import package_source
from tasks.mongodb.patcher import MongoReplicaSetPatcher


def mongo_nodes(targets: list[Target], login: Login | None = None) -> list[MongoNode]:
    """A ``MongoNode`` per target: credentials from its block (or ``login``), transport, package source."""
    from tasks.credentials import mongodb_credentials
    from tasks.host.factory import transport_for

    return [
        MongoNode(t, login or mongodb_credentials(t), transport_for(t), package_source(t)) for t in targets
    ]


def build_mongodb(cluster: str, targets: list[Target], policy: Policy, on: dt.date, *, requested: str | None = None,
                  switch_back: bool = False, write_probe: bool = False,
                  login: Login | None = None) -> MongoReplicaSetPatcher:  # fmt: skip
    """The patcher for one replica set; ``execute(dry_run)`` returns the ``ClusterRun``."""
    from tasks.patch import approved_for

    return MongoReplicaSetPatcher(
        cluster, mongo_nodes(targets, login), policy, approved_for(policy, Engine.MONGODB, on),
        requested=requested, switch_back=switch_back, write_probe=write_probe,
    )  # fmt: skip
