"""When a set's binaries were last rolled, and to what: the evidence ``raise_fcv`` needs for the burn-in.

One small JSON file per cluster in ``<DBPATCH_HOME>/state/mongodb-<cluster>.json``, written by the patcher after
a completed roll and by ``raise_fcv`` after it raised the feature compatibility version.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dbpatch import paths
from dbpatch.errors import ConfigError


@dataclass(frozen=True)
class RollRecord:
    cluster: str
    version: str  # binaries every member runs after the roll
    series: str
    previous_series: str  # what the members ran before (differs from ``series`` for a major step)
    fcv: str | None  # featureCompatibilityVersion when the roll finished
    rolled_at: dt.datetime
    fcv_raised_at: dt.datetime | None = None

    @property
    def fcv_held(self) -> str | None:
        """The old FCV a major roll keeps until ``raise_fcv`` (None when FCV matches the binaries)."""
        return self.fcv if self.fcv and self.fcv != self.series and self.fcv_raised_at is None else None


def state_path(cluster: str) -> Path:
    return paths.home() / "state" / f"mongodb-{cluster}.json"


def load(cluster: str) -> RollRecord | None:
    path = state_path(cluster)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable roll record: {exc}") from None
    try:
        raw["rolled_at"] = dt.datetime.fromisoformat(raw["rolled_at"])
        if raw.get("fcv_raised_at"):
            raw["fcv_raised_at"] = dt.datetime.fromisoformat(raw["fcv_raised_at"])
        return RollRecord(**raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed roll record: {exc}") from None


def save(record: RollRecord) -> Path:
    path = state_path(record.cluster)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(record)
    data["rolled_at"] = record.rolled_at.isoformat()
    data["fcv_raised_at"] = record.fcv_raised_at.isoformat() if record.fcv_raised_at else None
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def record_roll(
    cluster: str, version: str, previous_series: str, fcv: str | None, at: dt.datetime
) -> RollRecord:
    """Save a completed roll of the binaries to ``version``."""
    series = ".".join(version.split(".")[:2])
    record = RollRecord(cluster, version, series, previous_series, fcv, at)
    old = load(cluster)
    if old and old.series == series and old.fcv_held and fcv == old.fcv_held:
        # a patch inside the new series during the burn-in: the major roll's FCV is still held
        record = replace(record, previous_series=old.previous_series)
    save(record)
    return record


def record_fcv_raised(record: RollRecord, fcv: str, at: dt.datetime) -> RollRecord:
    raised = replace(record, fcv=fcv, fcv_raised_at=at)
    save(raised)
    return raised
