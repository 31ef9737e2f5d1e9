"""Post-check smoke write: a row written on the primary must be readable on every standby."""

from __future__ import annotations

import time
import uuid

from dbpatch.errors import PatchError
from tasks.patching import CheckResult
from tasks.postgres.driver import connect, query_one


def _visible(standby, token: str) -> bool:
    """The row is on ``standby``. A standby that has not replayed the table's creation yet says "relation
    does not exist": not replicated yet, like a missing row."""
    try:
        with connect(standby.target, standby.creds) as conn:
            row = query_one(conn, "select count(*) as n from dbpatch_smoke where token = %s", (token,))
    except PatchError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    return bool(row["n"])


def smoke_write(primary, standbys, timeout: float) -> CheckResult:
    token = f"dbpatch-{uuid.uuid4()}"
    try:
        with connect(primary.target, primary.creds) as conn:
            conn.execute(
                "create table if not exists dbpatch_smoke (token text primary key, written_at timestamptz default now())"
            )
            conn.execute("insert into dbpatch_smoke (token) values (%s)", (token,))
        missing = []
        deadline = time.monotonic() + timeout
        for standby in standbys:
            while True:
                if _visible(standby, token):
                    break
                if time.monotonic() > deadline:
                    missing.append(standby.name)
                    break
                time.sleep(0.1)
        with connect(primary.target, primary.creds) as conn:
            conn.execute("delete from dbpatch_smoke where token = %s", (token,))
    except PatchError as exc:
        return CheckResult(
            "smoke_write",
            primary.name,
            False,
            "error",
            "read back everywhere",
            f"smoke write failed: {exc}",
            "post",
        )
    where = ", ".join(s.name for s in standbys) or "no standbys"
    if missing:
        return CheckResult(
            "smoke_write",
            primary.name,
            False,
            f"missing on {', '.join(missing)}",
            "read back everywhere",
            f"row written on {primary.name} not visible on {', '.join(missing)} within {timeout:g}s",
            "post",
        )
    return CheckResult(
        "smoke_write",
        primary.name,
        True,
        "read back",
        "read back everywhere",
        f"row written on {primary.name} read back on {where}",
        "post",
    )
