"""Durable state of patch runs: a journal per cluster and a lease that admits one run per cluster.

The rolling procedure writes its intent before every step and the result after it, each record flushed and
fsynced before the step runs, so a run killed at any instant leaves a journal that says what it was doing.
A rerun reads it back with fresh facts and finishes or reverses the interrupted cluster (the way Patroni
re-derives its role from the DCS on every loop instead of trusting memory).

Behind the small ``StateStore`` interface so that the journal can move to storage every worker reaches; the
file store keeps JSON lines under ``<DBPATCH_HOME>/state``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbpatch import paths
from dbpatch.errors import ConfigError, PatchError

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}", re.I)


class LeaseHeld(PatchError):
    """Another live run holds the cluster."""


def _safe(name: str) -> str:
    if not _NAME.fullmatch(name) or ".." in name:
        raise ConfigError(f"state: {name!r} is not a valid cluster name")
    return name


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Lease:
    cluster: str
    run_id: str
    host: str
    pid: int
    pid_started: str  # the process's start time, so a reused pid is not taken for the owner
    acquired_at: str

    def sentence(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, since {self.acquired_at})"


def _proc_start(pid: int) -> str:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat); '' when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def lease_alive(lease: Lease) -> bool:
    """A lease is alive while its process runs. Leases from other hosts are taken as alive (no way to tell)."""
    if lease.host != socket.gethostname():
        return True
    return _proc_start(lease.pid) == lease.pid_started and lease.pid_started != ""


@dataclass
class JournalRecord:
    """One line of a cluster's journal."""

    run_id: str
    kind: str  # begin | intent | result | note | end
    at: str = field(default_factory=lambda: now().isoformat(timespec="milliseconds"))
    node: str | None = None
    action: str | None = None
    status: str | None = None  # result: ok | failed
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if v not in (None, "", {})}, sort_keys=True)


@dataclass
class RunJournal:
    """The records of one run, as read back."""

    run_id: str
    records: list[JournalRecord]

    @property
    def begin(self) -> dict[str, Any]:
        return next((r.data for r in self.records if r.kind == "begin"), {})

    @property
    def finished(self) -> bool:
        return any(r.kind == "end" for r in self.records)

    def value(self, key: str) -> Any:
        """The last value a ``begin`` or ``note`` record gave ``key``."""
        out = None
        for r in self.records:
            if r.kind in ("begin", "note") and key in r.data:
                out = r.data[key]
        return out

    def started(self, node: str, action: str) -> bool:
        """True when the run wrote its intent to do ``action`` on ``node`` (whether or not it finished)."""
        return any(r.kind == "intent" and r.node == node and r.action == action for r in self.records)

    def last_intent(self) -> JournalRecord | None:
        return next((r for r in reversed(self.records) if r.kind == "intent"), None)

    def open_step(self) -> JournalRecord | None:
        """The intent with no result: the step the run was in when it died."""
        last = self.last_intent()
        if last is None:
            return None
        done = any(
            r.kind == "result" and r.node == last.node and r.action == last.action
            for r in self.records[self.records.index(last) :]
        )
        return None if done else last


class StateStore(ABC):
    """Where journals and leases live. ``append`` must be durable when it returns."""

    @abstractmethod
    def append(self, cluster: str, record: JournalRecord) -> None: ...

    @abstractmethod
    def records(self, cluster: str) -> list[JournalRecord]: ...

    @abstractmethod
    def acquire(self, cluster: str, run_id: str) -> Lease | None:
        """Take the cluster's lease; returns a dead run's lease it replaced (None if there was none).
        Raises ``LeaseHeld`` when a live run holds it."""

    @abstractmethod
    def release(self, cluster: str, run_id: str) -> None: ...

    def last_run(self, cluster: str) -> RunJournal | None:
        recs = self.records(cluster)
        if not recs:
            return None
        run_id = recs[-1].run_id
        return RunJournal(run_id, [r for r in recs if r.run_id == run_id])

    def interrupted(self, cluster: str) -> RunJournal | None:
        """The cluster's last run if it never wrote its end record (it died)."""
        last = self.last_run(cluster)
        return last if last is not None and not last.finished else None


class FileStateStore(StateStore):
    """JSON lines in ``<root>/journal/<cluster>.jsonl``; leases as ``<root>/leases/<cluster>.json`` (O_EXCL).
    ``root`` defaults to ``$DBPATCH_STATE`` or ``<DBPATCH_HOME>/state``."""

    def __init__(self, root: Path | None = None):
        self.root = root or paths.state()

    def _journal(self, cluster: str) -> Path:
        return self.root / "journal" / f"{_safe(cluster)}.jsonl"

    def _lease(self, cluster: str) -> Path:
        return self.root / "leases" / f"{_safe(cluster)}.json"

    def append(self, cluster: str, record: JournalRecord) -> None:
        path = self._journal(cluster)
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (record.line() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_dir(path.parent)

    def records(self, cluster: str) -> list[JournalRecord]:
        path = self._journal(cluster)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                out.append(JournalRecord(**raw))
            except (ValueError, TypeError):
                if n == len(text.splitlines()):
                    continue  # a torn last line: the write it belonged to never returned
                raise ConfigError(f"{path}:{n}: malformed journal record") from None
        return out

    def acquire(self, cluster: str, run_id: str) -> Lease | None:
        path = self._lease(cluster)
        path.parent.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        mine = Lease(cluster, run_id, socket.gethostname(), pid, _proc_start(pid), now().isoformat())
        replaced: Lease | None = None
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            except FileExistsError:
                held = self._read_lease(path)
                if held is not None and lease_alive(held):
                    raise LeaseHeld(
                        f"{cluster}: another run holds the cluster: {held.sentence()}; not started"
                    ) from None
                replaced = held
                path.unlink(missing_ok=True)
                continue
            try:
                os.write(fd, json.dumps(mine.__dict__).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            return replaced
        raise LeaseHeld(f"{cluster}: the lease changed hands while it was taken; not started")

    def release(self, cluster: str, run_id: str) -> None:
        path = self._lease(cluster)
        held = self._read_lease(path)
        if held is not None and held.run_id == run_id:
            path.unlink(missing_ok=True)

    @staticmethod
    def _read_lease(path: Path) -> Lease | None:
        try:
            return Lease(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return None  # torn write of a dead run


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_run_id() -> str:
    return now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def default_store() -> StateStore:
    return FileStateStore()
