"""The one module that imports psycopg (as Patroni's ``patroni/psycopg.py``): tests patch one name, and every
driver error becomes a ``PatchError`` here, without the password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from dbpatch.errors import PatchError, TargetUnreachable
from dbpatch.models import Target

_REASONS = (
    (re.compile(r"connection refused", re.I), "connection refused"),
    (re.compile(r"password authentication failed|no password supplied", re.I), "authentication failed"),
    (re.compile(r"timeout expired|timed out", re.I), "timed out"),
    (re.compile(r"starting up", re.I), "starting up"),
    (re.compile(r"shutting down", re.I), "shutting down"),
    (re.compile(r"too many clients|remaining connection slots", re.I), "too many connections"),
    (re.compile(r"could not translate host name|Name or service not known", re.I), "unknown host"),
)
TRANSIENT = {"starting up", "too many connections", "timed out"}
Error = psycopg.Error
Connection = psycopg.Connection
__all__ = [
    "Connection",
    "Credentials",
    "Error",
    "connect",
    "connect_raw",
    "conninfo_to_dict",
    "make_conninfo",
    "query",
    "query_one",
    "reason_of",
    "sql",
]


def connect_raw(**conninfo: Any) -> psycopg.Connection:
    """A plain autocommit connection (the write probe's multi-host client); errors are the caller's to count."""
    return psycopg.connect(**conninfo, autocommit=True)


def reason_of(exc: BaseException) -> str:
    text = str(exc)
    for rx, reason in _REASONS:
        if rx.search(text):
            return reason
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


class Credentials:
    """Plain credentials (from a ``PostgresCredentials`` block) — kept out of repr."""

    def __init__(
        self,
        user: str,
        password: str | None,
        sslmode: str = "prefer",
        dbname: str = "postgres",
        connect_timeout: int = 5,
    ):
        self.user, self._password, self.sslmode, self.dbname, self.connect_timeout = (
            user,
            password,
            sslmode,
            dbname,
            connect_timeout,
        )

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=***)"

    def conninfo(self, host: str, port: int, **extra: Any) -> dict[str, Any]:
        return {
            "host": host,
            "port": port,
            "user": self.user,
            "password": self._password,
            "dbname": self.dbname,
            "sslmode": self.sslmode,
            "connect_timeout": self.connect_timeout,
            "application_name": "dbpatch",
            **extra,
        }


@contextmanager
def connect(target: Target, creds: Credentials, **extra: Any) -> Iterator[psycopg.Connection]:
    """Autocommit connection to one target; connection problems raise ``TargetUnreachable``."""
    try:
        conn = psycopg.connect(
            **creds.conninfo(target.host, target.port, **extra), autocommit=True, row_factory=dict_row
        )
    except psycopg.Error as exc:
        raise TargetUnreachable(target.name, reason_of(exc)) from None
    try:
        yield conn
    except psycopg.OperationalError as exc:
        raise TargetUnreachable(target.name, reason_of(exc)) from None
    except psycopg.Error as exc:
        raise PatchError(f"{target.name}: query failed: {reason_of(exc)}") from None
    finally:
        conn.close()


def query(conn: psycopg.Connection, sql: str, params: tuple | None = None) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(sql, params)  # type: ignore[arg-type]
        return cast(list[dict[str, Any]], cur.fetchall()) if cur.description else []


def query_one(conn: psycopg.Connection, sql: str, params: tuple | None = None) -> dict[str, Any]:
    rows = query(conn, sql, params)
    return rows[0] if rows else {}
