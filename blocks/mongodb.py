"""Prefect block holding MongoDB credentials. Inventory targets name the block in ``credentials``."""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class MongoCredentials(Block):
    """How dbpatch logs in to MongoDB members: clusterMonitor (and read on ``local``) for scans and checks,
    clusterManager and hostManager for stepDown, shutdown and setFeatureCompatibilityVersion."""

    _block_type_name = "dbpatch MongoDB Credentials"
    _description = "Login for dbpatch to MongoDB replica-set members (scan, checks, stepDown)."

    username: str | None = Field(
        default=None,
        description="User dbpatch authenticates as; empty: no authentication (the lab's simulator).",
    )
    password: SecretStr | None = Field(default=None, description="Password of the user (kept secret).")
    auth_source: str = Field(default="admin", description="Database the user is defined in (authSource).")
    tls: bool = Field(default=False, description="Connect with TLS.")
    connect_timeout: int = Field(
        default=5, ge=1, le=120, description="Seconds to wait for a member to answer."
    )

    def login(self) -> dict[str, Any]:
        """Keyword arguments for ``tasks.mongodb.facts.read_facts`` (holds the password: never log it)."""
        return {
            "username": self.username or None,
            "password": self.password.get_secret_value() if self.password else None,
            "auth_source": self.auth_source,
            "tls": self.tls,
            "timeout": float(self.connect_timeout),
        }
