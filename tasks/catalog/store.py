"""The writable half of the catalog under ``dbpatch.paths.home()/catalog/``.

``releases.json`` (the overlay) holds what refreshes learned; ``canary-validated.json`` holds versions that
passed a canary wave. Both are validated when read and replaced atomically (temp file + rename) when
written, so a reader never sees half a file and a failed refresh leaves the old file in place.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from dbpatch import paths
from dbpatch.errors import ConfigError
from dbpatch.models import Engine, StrictModel, parse_model
from tasks.catalog.versions import VersionError, canonical, is_valid_version, parse_major

OVERLAY_FILE = "releases.json"
CANARY_FILE = "canary-validated.json"


def catalog_dir(home: Path | None = None) -> Path:
    """``<home>/catalog``: where refreshed data and canary results live."""
    return Path(home or paths.home()) / "catalog"


class OverlayRelease(StrictModel):
    """A release learned after the shipped snapshot."""

    engine: Engine = Field(description="Database engine.")
    version: str = Field(description="Upstream version or SQL Server build.")
    date: dt.date | None = Field(
        default=None, description="Release date from a dated source; empty when unknown (seen on a host)."
    )
    source: str = Field(description="Where it was learned: endoflife.date host, apt, dnf, lab.")
    name: str | None = Field(default=None, description="SQL Server servicing level, e.g. CU27.")
    kb: list[str] = Field(default_factory=list, description="SQL Server KB numbers.")
    learned: dt.date | None = Field(default=None, description="When dbpatch learned of it.")

    @model_validator(mode="after")
    def _version_shape(self) -> OverlayRelease:
        if not is_valid_version(self.engine, self.version):
            raise ValueError(f"{self.version!r} is not a valid {self.engine} version")
        return self


class OverlayMajor(StrictModel):
    """Support dates for a major, newer than the shipped ones."""

    engine: Engine = Field(description="Database engine.")
    major: str = Field(description="Major ('15', '7.0', '16.0').")
    released: dt.date | None = Field(default=None, description="First release of the major.")
    eol: dt.date | None = Field(default=None, description="End of life (SQL Server: extended support end).")
    mainstream_end: dt.date | None = Field(default=None, description="SQL Server mainstream support end.")
    source: str = Field(description="Where it was learned.")

    @model_validator(mode="after")
    def _major_shape(self) -> OverlayMajor:
        try:
            parse_major(self.engine, self.major)
        except VersionError as exc:
            raise ValueError(str(exc)) from None
        return self


class Overlay(StrictModel):
    format: Literal[1] = Field(default=1, description="File format version.")
    updated: str | None = Field(
        default=None, description="When the overlay was last written (UTC, ISO 8601)."
    )
    releases: list[OverlayRelease] = Field(default_factory=list, description="Learned releases.")
    majors: list[OverlayMajor] = Field(default_factory=list, description="Learned support dates.")


class CanaryEntry(StrictModel):
    engine: Engine = Field(description="Database engine.")
    version: str = Field(description="Version that passed a canary wave.")
    when: dt.date = Field(description="Day the canary wave validated it.")

    @model_validator(mode="after")
    def _version_shape(self) -> CanaryEntry:
        if not is_valid_version(self.engine, self.version):
            raise ValueError(f"{self.version!r} is not a valid {self.engine} version")
        return self


class CanaryFile(StrictModel):
    format: Literal[1] = Field(default=1, description="File format version.")
    validated: list[CanaryEntry] = Field(default_factory=list, description="Canary-validated versions.")


def _read(path: Path, model: type[StrictModel], default: StrictModel) -> Any:
    label = f"{path.parent.name}/{path.name}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{label}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    return parse_model(model, data, label)


def read_overlay(home: Path | None = None) -> Overlay:
    return _read(catalog_dir(home) / OVERLAY_FILE, Overlay, Overlay())


def read_canary(home: Path | None = None) -> CanaryFile:
    return _read(catalog_dir(home) / CANARY_FILE, CanaryFile, CanaryFile())


def write_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temp file in the same directory and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=False, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_overlay(overlay: Overlay, home: Path | None = None) -> Path:
    path = catalog_dir(home) / OVERLAY_FILE
    stamped = overlay.model_copy(update={"updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
    write_atomic(path, stamped.model_dump(mode="json"))
    return path


def forget_source(source: str, home: Path | None = None) -> int:
    """Drop the overlay's releases learned from ``source`` (e.g. 'lab' when the lab is destroyed); how many."""
    path = catalog_dir(home) / OVERLAY_FILE
    if not path.exists():
        return 0
    overlay = read_overlay(home)
    kept = [r for r in overlay.releases if r.source != source]
    dropped = len(overlay.releases) - len(kept)
    if dropped:
        write_overlay(overlay.model_copy(update={"releases": kept}), home)
    return dropped


def mark_canary_validated(
    engine: Engine, version: str, when: dt.date | dt.datetime, home: Path | None = None
) -> Path:
    """Record that ``version`` passed a canary wave on ``when``; baselines with approve_on_canary approve it.

    The first validation date is kept, so "approved as of D" does not move when a later wave repeats it.
    """
    engine = Engine(engine)
    version = canonical(engine, version)
    day = when.date() if isinstance(when, dt.datetime) else when
    current = read_canary(home)
    entries = list(current.validated)
    for i, entry in enumerate(entries):
        if entry.engine is engine and canonical(engine, entry.version) == version:
            entries[i] = CanaryEntry(engine=engine, version=version, when=min(entry.when, day))
            break
    else:
        entries.append(CanaryEntry(engine=engine, version=version, when=day))
    path = catalog_dir(home) / CANARY_FILE
    write_atomic(path, CanaryFile(validated=entries).model_dump(mode="json"))
    return path
