"""Prefect block holding PostgreSQL credentials. Inventory targets name the block in ``credentials``."""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class PostgresCredentials(Block):
    """How dbpatch logs in to PostgreSQL: a role with pg_monitor for scans, superuser (or pg_checkpoint and
    pg_signal_backend) for patching."""

    _block_type_name = "dbpatch PostgreSQL Credentials"
    _description = "Login for dbpatch to PostgreSQL targets (scan, checks, switchover)."

    user: str = Field(default="postgres", description="Role dbpatch connects as.")
    password: SecretStr | None = Field(default=None, description="Password of the role (kept secret).")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        default="prefer", description="libpq sslmode for connections to targets."
    )
    dbname: str = Field(default="postgres", description="Database to connect to for checks.")
    connect_timeout: int = Field(default=5, ge=1, le=120, description="Seconds to wait for a connection.")
