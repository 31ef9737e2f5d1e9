"""Resolve the credentials block a target names into plain driver credentials (never logged)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from dbpatch.errors import ConfigError
from dbpatch.models import Target
from tasks.postgres.driver import Credentials

if TYPE_CHECKING:
    from tasks.mongodb.client import Login


def postgres_credentials(target: Target) -> Credentials:
    from blocks.postgres import PostgresCredentials

    try:
        block = cast(PostgresCredentials, PostgresCredentials.load(target.credentials))
    except ValueError:
        raise ConfigError(
            f"inventory: {target.name}.credentials: no PostgreSQL credentials block named {target.credentials!r}"
        ) from None
    password = block.password.get_secret_value() if block.password else None
    return Credentials(block.user, password, block.sslmode, block.dbname, block.connect_timeout)


def mongodb_credentials(target: Target) -> Login:
    from blocks.mongodb import MongoCredentials
    from tasks.mongodb.client import Login

    try:
        block = MongoCredentials.load(target.credentials, _sync=True)  # type: ignore[call-arg]
    except ValueError:
        raise ConfigError(
            f"inventory: {target.name}.credentials: no MongoDB credentials block named {target.credentials!r}"
        ) from None
    if not isinstance(block, MongoCredentials):
        raise ConfigError(
            f"inventory: {target.name}.credentials: block {target.credentials!r} is not MongoDB credentials"
        )
    return Login(**block.login())
