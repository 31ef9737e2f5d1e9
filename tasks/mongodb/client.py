"""The one module that imports pymongo (as Patroni's ``patroni/psycopg.py``): tests patch one name, and every
driver error becomes a ``PatchError`` here, without the password.

Connections go to one member at a time (``directConnection=True``) with short timeouts and no retries: a fact
that cannot be read is an answer, not something to retry behind the caller's back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pymongo
from pymongo import errors

from dbpatch.errors import PatchError, TargetUnreachable

_REASONS = (
    (re.compile(r"connection refused", re.I), "connection refused"),
    (re.compile(r"authentication failed|auth.*failed", re.I), "authentication failed"),
    (re.compile(r"name or service not known|nodename nor servname|getaddrinfo failed", re.I), "unknown host"),
    (re.compile(r"ssl|tls|certificate", re.I), "TLS handshake failed"),
    (re.compile(r"connection reset|connection closed|broken pipe", re.I), "connection closed"),
    (re.compile(r"timed out|timeout", re.I), "timed out"),
)


class MongoCommandError(PatchError):
    """A command answered ``ok: 0``; ``code``/``code_name`` are the server's (262 ExceededTimeLimit, 10107 …)."""

    def __init__(self, target: str, command: str, code: int | None, code_name: str | None, message: str):
        self.target, self.command, self.code, self.code_name = target, command, code, code_name
        super().__init__(f"{target}: {command} failed: {message} ({code_name or 'code'} {code})")


def reason_of(exc: BaseException) -> str:
    """Short reason for ``TargetUnreachable``: 'connection refused', 'timed out', …"""
    text = str(exc)
    for rx, reason in _REASONS:
        if rx.search(text):
            return reason
    first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    return first


def translate(target: str, command: str, exc: errors.PyMongoError) -> PatchError:
    """The ``PatchError`` for a pymongo error raised while running ``command`` on ``target``."""
    if isinstance(exc, errors.NotPrimaryError | errors.OperationFailure):
        details = exc.details if isinstance(exc.details, Mapping) else {}
        code = details.get("code", getattr(exc, "code", None))
        if code == 18:
            return TargetUnreachable(target, "authentication failed")
        return MongoCommandError(
            target, command, code, details.get("codeName"), details.get("errmsg") or reason_of(exc)
        )
    if isinstance(exc, errors.ConnectionFailure | errors.ConfigurationError):
        return TargetUnreachable(target, reason_of(exc))
    return PatchError(f"{target}: {command} failed: {reason_of(exc)}")


@dataclass(frozen=True)
class Login:
    """How dbpatch logs in to a member (resolved from a ``MongoCredentials`` block). The password stays out of
    ``repr``, so a Login in a log line or a traceback shows no secret."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    auth_source: str = "admin"
    tls: bool = False
    timeout: float = 3.0

    def options(self, timeout: float | None = None) -> dict[str, Any]:
        """Keyword arguments for ``connect`` and ``read_facts`` (``timeout`` overrides the block's)."""
        return {"username": self.username, "password": self.password, "auth_source": self.auth_source,
                "tls": self.tls, "timeout": self.timeout if timeout is None else timeout}  # fmt: skip


class Node:
    """One member reached directly. Methods raise ``TargetUnreachable`` or ``MongoCommandError``."""

    def __init__(self, target: str, client: pymongo.MongoClient):
        self.target, self._client = target, client

    def command(
        self, command: str | Mapping[str, Any], *, expect_disconnect: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """Run an admin command. ``expect_disconnect``: a closed connection is success (``shutdown``)."""
        name = command if isinstance(command, str) else next(iter(command))
        try:
            return dict(
                self._client.admin.command(command if isinstance(command, str) else dict(command), **kwargs)
            )
        except errors.AutoReconnect as exc:
            if expect_disconnect and not isinstance(exc, errors.NotPrimaryError):
                return {"ok": 1.0, "disconnected": True}
            raise translate(self.target, name, exc) from None
        except errors.PyMongoError as exc:
            raise translate(self.target, name, exc) from None

    def oplog_bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """Wall-clock times of the first and last ``local.oplog.rs`` entries (``rs.printReplicationInfo()``)."""
        oplog = self._client.local["oplog.rs"]
        try:
            first = next(iter(oplog.find({}, {"ts": 1}).sort("$natural", 1).limit(1)), None)
            last = next(iter(oplog.find({}, {"ts": 1}).sort("$natural", -1).limit(1)), None)
        except errors.PyMongoError as exc:
            raise translate(self.target, "find local.oplog.rs", exc) from None
        return _ts_date(first), _ts_date(last)

    def insert_one(self, database: str, collection: str, document: Mapping[str, Any]) -> None:
        """A smoke write (acknowledged by this member only)."""
        try:
            self._client[database][collection].insert_one(dict(document))
        except errors.PyMongoError as exc:
            raise translate(self.target, f"insert {database}.{collection}", exc) from None


def _ts_date(entry: Mapping[str, Any] | None) -> dt.datetime | None:
    if not entry or not entry.get("ts"):
        return None
    return entry["ts"].as_datetime()


@contextmanager
def connect(
    target: str,
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    auth_source: str = "admin",
    tls: bool = False,
    timeout: float = 3.0,
) -> Iterator[Node]:
    """A ``Node`` for one member; the client is closed on exit. No username: no authentication."""
    ms = int(timeout * 1000)
    options: dict[str, Any] = dict(
        directConnection=True, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms,
        retryWrites=False, retryReads=False, appname="dbpatch", tls=tls,
    )  # fmt: skip
    if username:
        options.update(username=username, password=password, authSource=auth_source)
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(host=host, port=port, **options)
    except errors.PyMongoError as exc:
        raise translate(target, "connect", exc) from None
    try:
        yield Node(target, client)
    finally:
        client.close()
