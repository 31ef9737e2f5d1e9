"""A named lock held by a *cycle*, not by a process: one patch cycle at a time across its pauses and bakes.

A cycle's start run and its waves run are different flow runs, possibly hours apart and on different workers,
so the holder is recorded as the cycle id. Whether the holder is still alive is a question about the cycle
(has it finished?), answered by the caller's ``finished`` function, as ``dbpatch/state.py`` asks ``/proc``
about a run's process. The lock is a file created with ``O_EXCL`` beside the journals and leases
(``<state>/locks/<name>.json``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from dbpatch import paths
from dbpatch.state import LeaseHeld, _safe, now

CYCLE_LOCK = "cycle-fleet"


class CycleLocked(LeaseHeld):
    """Another cycle that has not finished holds the lock."""


@dataclass(frozen=True)
class CycleLock:
    name: str
    cycle_id: str
    acquired_at: str
    flow_run: str | None = None

    def sentence(self) -> str:
        run = f", flow run {self.flow_run}" if self.flow_run else ""
        return f"cycle {self.cycle_id} (since {self.acquired_at}{run})"


def _path(name: str, root: Path | None = None) -> Path:
    return (root or paths.state()) / "locks" / f"{_safe(name)}.json"


def holder(name: str = CYCLE_LOCK, root: Path | None = None) -> CycleLock | None:
    try:
        return CycleLock(**json.loads(_path(name, root).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None  # a torn write: nobody holds it


def acquire(
    cycle_id: str,
    finished: Callable[[str], bool],
    *,
    name: str = CYCLE_LOCK,
    flow_run: str | None = None,
    root: Path | None = None,
) -> CycleLock | None:
    """Take the lock for ``cycle_id`` (again, if it already holds it). A holder whose cycle has ``finished`` is
    replaced and returned. Raises ``CycleLocked`` when another unfinished cycle holds it."""
    path = _path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = CycleLock(name, cycle_id, now().isoformat(timespec="seconds"), flow_run)
    replaced: CycleLock | None = None
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            held = holder(name, root)
            if held is not None and held.cycle_id == cycle_id:
                return None  # the cycle's second flow run: it holds the lock already
            if held is not None and not finished(held.cycle_id):
                raise CycleLocked(
                    f"{name}: {held.sentence()} has not finished; cycle {cycle_id} not started "
                    f"(a stuck lock is released with: dbpatch cycle --release-lock)"
                ) from None
            replaced = held
            path.unlink(missing_ok=True)
            continue
        try:
            os.write(fd, json.dumps(asdict(mine)).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return replaced
    raise CycleLocked(f"{name}: the lock changed hands while cycle {cycle_id} took it; not started")


def release(cycle_id: str, *, name: str = CYCLE_LOCK, root: Path | None = None) -> bool:
    """Release the lock if ``cycle_id`` holds it; True when it did."""
    held = holder(name, root)
    if held is None or held.cycle_id != cycle_id:
        return False
    _path(name, root).unlink(missing_ok=True)
    return True


def force_release(name: str = CYCLE_LOCK, root: Path | None = None) -> CycleLock | None:
    """A person's way out of a stuck lock (a cycle killed without finishing): returns who held it."""
    held = holder(name, root)
    _path(name, root).unlink(missing_ok=True)
    return held
