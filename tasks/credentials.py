"""Resolve the credentials block a target names into plain driver credentials (never logged)."""

from __future__ import annotations

from dbpatch.errors import ConfigError
from dbpatch.models import Engine, Target
from tasks.postgres.driver import Credentials


def postgres_credentials(target: Target) -> Credentials:
    from blocks.postgres import PostgresCredentials

    try:
        block = PostgresCredentials.load(target.credentials)
    except ValueError:
        raise ConfigError(f"inventory: {target.name}.credentials: no PostgreSQL credentials block named {target.credentials!r}") from None
    password = block.password.get_secret_value() if block.password else None
    return Credentials(block.user, password, block.sslmode, block.dbname, block.connect_timeout)


def credentials_for(target: Target):
    if target.engine is Engine.POSTGRESQL:
        return postgres_credentials(target)
    raise ConfigError(f"inventory: {target.name}.engine: no credentials resolver for {target.engine.value} yet")
