"""The version catalog: every known release per engine and major, with dates and support windows.

Shipped data (``tasks/catalog/data/*.json``, snapshot 2026-11-24, see data/SOURCES.md) is merged with the
overlay that refreshes write under ``home()/catalog``. Shipped entries win for a version both know (they
carry better dates); overlay support dates replace shipped ones (they are newer). Everything is validated
on load: malformed data is a ``ConfigError`` naming the file and the field.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from dbpatch.errors import ConfigError
from dbpatch.models import Engine, parse_model
from tasks.catalog import store
from tasks.catalog.versions import canonical, is_valid_version, major_of, parse_major, sort_key

DATA_DIR = Path(__file__).parent / "data"
SHIPPED_FILES = {
    Engine.POSTGRESQL: "postgresql-releases.json",
    Engine.MONGODB: "mongodb-releases.json",
    Engine.SQLSERVER: "mssqlserver-builds.json",
}


@dataclass(frozen=True)
class Release:
    """One release (SQL Server: one build). ``date`` is None when no source gives one."""

    engine: Engine
    version: str
    date: dt.date | None
    name: str | None = None  # SQL Server servicing level: 'CU14', 'CU14+GDR', 'GDR', 'SP3 CU2'
    kb: tuple[str, ...] = ()
    source: str = "catalog"
    retired: bool = False  # pulled by the vendor (SQL Server '(retired)' builds): never auto-approved
    prerelease: bool = False  # SQL Server CTP / RC builds: never auto-approved
    date_source: str = ""  # where ``date`` came from, in words ('endoflife.date release data (tag date)')

    @property
    def major(self) -> str:
        return major_of(self.engine, self.version)

    @property
    def dated_by(self) -> str:
        """Where the release date came from, or why there is none: 'seen on host (lab), date unknown'."""
        if self.date_source:
            return self.date_source
        if self.source in HOST_SOURCES:
            return f"seen on host ({self.source}), date unknown"
        if self.source in ("policy", "canary"):
            what = "listed in the policy" if self.source == "policy" else "canary-validated"
            return f"{what}, date unknown"
        return self.source if self.date else f"{self.source}, date unknown"

    def label(self) -> str:
        """'15.20', or for SQL Server '16.0.4135.4 (CU14, KB5038325)'."""
        extra = [self.name] if self.name else []
        extra += [f"KB{k}" for k in self.kb[:1] if f"KB{k}" not in (self.name or "")]
        return f"{self.version} ({', '.join(extra)})" if extra else self.version


@dataclass(frozen=True)
class MajorInfo:
    """Support window of a major. ``eol`` is the last day of support (SQL Server: extended support end)."""

    engine: Engine
    major: str
    released: dt.date | None = None
    eol: dt.date | None = None
    mainstream_end: dt.date | None = None  # SQL Server only
    extended_end: dt.date | None = None  # SQL Server only (same as eol)
    esu_end: dt.date | None = None  # SQL Server only
    label: str | None = None  # 'SQL Server 2022'
    rapid_release: bool = False  # MongoDB rapid-release series
    source: str = "catalog"


HOST_SOURCES = (
    "apt",
    "dnf",
    "lab",
)  # package sources: they say a version is installable, never when it came out


def _release_key(release: Release) -> tuple[int, ...]:
    return sort_key(release.engine, release.version)


_DATED_FIELDS = ("released", "eol", "mainstream_end", "extended_end", "esu_end", "label")


class Catalog:
    """Releases and majors by engine, plus canary validations. Build one with ``load_catalog``."""

    def __init__(
        self,
        releases: Iterable[Release],
        majors: Iterable[MajorInfo] = (),
        canary: Mapping[tuple[Engine, str], dt.date] | None = None,
    ):
        self._by_version: dict[tuple[Engine, str], Release] = {}
        self._by_major: dict[tuple[Engine, str], list[Release]] = {}
        for r in releases:  # first one wins: pass shipped data before the overlay
            keys = self._keys(r.engine, r.version)
            if keys[0] in self._by_version:
                continue
            self._by_version[keys[0]] = r
            for alias in keys[1:]:
                self._by_version.setdefault(alias, r)
            self._by_major.setdefault((r.engine, r.major), []).append(r)
        for rels in self._by_major.values():
            rels.sort(key=_release_key)
        self._majors: dict[tuple[Engine, str], MajorInfo] = {}
        for m in majors:  # later ones update the fields they know
            old = self._majors.get((m.engine, m.major))
            if old is not None:
                known = {f: getattr(m, f) for f in _DATED_FIELDS if getattr(m, f) is not None}
                m = replace(old, **known, source=m.source)
            self._majors[(m.engine, m.major)] = m
        self._canary = {(Engine(e), self.canonical(e, v)): d for (e, v), d in (canary or {}).items()}

    @staticmethod
    def _keys(engine: Engine, version: str) -> list[tuple[Engine, str]]:
        """A SQL Server build is also found by its three-part version (16.0.4135 -> 16.0.4135.4)."""
        v = canonical(engine, version)
        keys = [(Engine(engine), v)]
        if Engine(engine) is Engine.SQLSERVER and v.count(".") == 3:
            keys.append((Engine(engine), v.rsplit(".", 1)[0]))
        return keys

    def versions(self, engine: Engine, major: str) -> list[Release]:
        """Known releases of ``major``, oldest first (numeric order)."""
        return list(self._by_major.get((Engine(engine), parse_major(engine, major)), []))

    def release(self, engine: Engine, version: str) -> Release | None:
        if not is_valid_version(engine, version):
            return None
        return self._by_version.get((Engine(engine), canonical(engine, version)))

    def major_of(self, engine: Engine, version: str) -> str:
        return major_of(engine, version)

    def major_info(self, engine: Engine, major: str) -> MajorInfo | None:
        return self._majors.get((Engine(engine), parse_major(engine, major)))

    def majors(self, engine: Engine) -> list[str]:
        """Majors with releases or support dates, oldest first."""
        found = {m for e, m in self._by_major if e is Engine(engine)} | {
            m for e, m in self._majors if e is Engine(engine)
        }
        return sorted(found, key=lambda m: tuple(int(p) for p in m.split(".")))

    def canonical(self, engine: Engine, version: str) -> str:
        """The catalog's spelling of ``version`` (a SQL Server three-part build becomes its four-part one)."""
        known = self.release(engine, version)
        return known.version if known else canonical(engine, version)

    def canary_versions(self, engine: Engine) -> dict[str, dt.date]:
        """Every canary-validated version of ``engine`` and the day it was validated."""
        return {v: d for (e, v), d in self._canary.items() if e is Engine(engine)}

    def canary_validated(self, engine: Engine, version: str) -> dt.date | None:
        """Day ``version`` passed a canary wave, if it has."""
        return self._canary.get((Engine(engine), self.canonical(engine, version)))


# --- shipped data ---------------------------------------------------------------------------------------


class _Lenient(BaseModel):
    """Shipped files carry notes and provenance we do not need: ignore unknown keys, check the rest."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _Version(_Lenient):
    version: str
    date: dt.date | None = None


class _Major(_Lenient):
    major: str
    released: dt.date | None = None
    eol: dt.date | None = None
    rapid_release: bool = False


class _VersionsFile(_Lenient):
    majors: list[_Major]
    versions: list[_Version]


class _SqlMajor(_Lenient):
    product: str
    major: str
    released: dt.date | None = None
    mainstream_end: dt.date | None = None
    extended_end: dt.date | None = None
    esu_end: dt.date | None = None


class _SqlBuild(_Lenient):
    build: str | None = None
    version: str
    name: str | None = None
    kb: list[str] | None = None
    date: dt.date | None = None
    src: dict[str, str] = {}
    dbatools: dict[str, Any] | None = None


class _SqlFile(_Lenient):
    majors: list[_SqlMajor]
    builds: list[_SqlBuild]


_KB = re.compile(r"^\d{6,7}$")
_SQL_SOURCES = {"ms": "KB321185", "endoflife": "endoflife.date"}
_SQL_DATE_SOURCES = {
    "ms_2026_04": "Microsoft KB321185 version history (2026-04-16)",
    "ms_2026_08": "Microsoft KB321185 version history (2026-08-10)",
    "dbatools": "dbatools build reference",
    "endoflife": "endoflife.date",
}
_TAG_DATES = "endoflife.date release data (git tag date)"


def _check(problems: list[str], ok: bool, where: str, message: str) -> None:
    if not ok:
        problems.append(f"{where}: {message}")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path.name}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name}: line {exc.lineno}: invalid JSON: {exc.msg}") from None


def parse_versions_file(engine: Engine, data: Any, source: str) -> tuple[list[Release], list[MajorInfo]]:
    """PostgreSQL / MongoDB file (``majors`` + ``versions``) -> releases and majors, fully validated."""
    parsed = parse_model(_VersionsFile, data, source)
    problems: list[str] = []
    for i, m in enumerate(parsed.majors):
        _check(
            problems,
            _major_ok(engine, m.major),
            f"{source}: majors[{i}].major",
            f"{m.major!r} is not a valid major",
        )
    for i, v in enumerate(parsed.versions):
        _check(
            problems,
            is_valid_version(engine, v.version),
            f"{source}: versions[{i}].version",
            f"{v.version!r} is not a valid {engine} version",
        )
    if problems:
        raise ConfigError(problems)
    releases = [
        Release(
            engine,
            canonical(engine, v.version),
            v.date,
            source="endoflife.date",
            date_source=_TAG_DATES if v.date else "endoflife.date, date unknown",
        )
        for v in parsed.versions
    ]
    majors = [
        MajorInfo(
            engine,
            parse_major(engine, m.major),
            m.released,
            m.eol,
            rapid_release=m.rapid_release,
            source="endoflife.date",
        )
        for m in parsed.majors
    ]
    return releases, majors


def parse_sqlserver_file(data: Any, source: str) -> tuple[list[Release], list[MajorInfo]]:
    """SQL Server builds file -> releases (four-part build when known) and majors, fully validated."""
    parsed = parse_model(_SqlFile, data, source)
    engine = Engine.SQLSERVER
    problems: list[str] = []
    releases = []
    for i, b in enumerate(parsed.builds):
        where = f"{source}: builds[{i}]"
        _check(
            problems, is_valid_version(engine, b.version), f"{where}.version", f"{b.version!r} is not a build"
        )
        if b.build is not None:
            _check(
                problems,
                is_valid_version(engine, b.build) and b.build.startswith(b.version + "."),
                f"{where}.build",
                f"{b.build!r} is not a four-part build of {b.version}",
            )
        for kb in b.kb or []:
            _check(problems, bool(_KB.match(kb)), f"{where}.kb", f"{kb!r} is not a KB number")
        if problems:
            continue
        name = b.name or ""
        releases.append(
            Release(
                engine,
                canonical(engine, b.build or b.version),
                b.date,
                name=name.replace(" (retired)", "") or None,
                kb=tuple(b.kb or ()),
                source=_SQL_SOURCES.get(b.src.get("build", ""), "dbatools"),
                retired="(retired)" in name or bool((b.dbatools or {}).get("Retired")),
                prerelease=name in ("RC", "pre-release (CTP)") or name.startswith(("CTP", "pre-release")),
                date_source=_SQL_DATE_SOURCES.get(b.src.get("date", ""), "dbatools build reference")
                if b.date
                else "no date in the sources",
            )
        )
    for i, m in enumerate(parsed.majors):
        _check(
            problems,
            _major_ok(engine, m.major),
            f"{source}: majors[{i}].major",
            f"{m.major!r} is not a valid major",
        )
    if problems:
        raise ConfigError(problems)
    majors = [
        MajorInfo(
            engine,
            m.major,
            m.released,
            m.extended_end,
            m.mainstream_end,
            m.extended_end,
            m.esu_end,
            label=m.product,
            source="endoflife.date",
        )
        for m in parsed.majors
    ]
    return releases, majors


def _major_ok(engine: Engine, major: str) -> bool:
    try:
        return parse_major(engine, major) == major
    except ConfigError:
        return False


def _learned(r: store.OverlayRelease) -> Release:
    """An overlay row. A package source never dates a release: older overlays stored the day of the scan as
    its release date, which is ignored here."""
    date = None if r.source in HOST_SOURCES else r.date
    origin = f"{r.source} (refreshed {r.learned})" if date and r.learned else ""
    return Release(
        r.engine, canonical(r.engine, r.version), date, r.name, tuple(r.kb), r.source, date_source=origin
    )


@functools.lru_cache(maxsize=4)
def _shipped(data_dir: Path) -> tuple[tuple[Release, ...], tuple[MajorInfo, ...]]:
    releases: list[Release] = []
    majors: list[MajorInfo] = []
    for engine, name in SHIPPED_FILES.items():
        data = _load_json(data_dir / name)
        r, m = (
            parse_sqlserver_file(data, name)
            if engine is Engine.SQLSERVER
            else parse_versions_file(engine, data, name)
        )
        releases += r
        majors += m
    return tuple(releases), tuple(majors)


def load_catalog(home: Path | None = None, data_dir: Path | None = None) -> Catalog:
    """Shipped data + refreshed overlay + canary validations under ``home`` (default ``dbpatch.paths.home()``)."""
    releases, majors = _shipped(Path(data_dir or DATA_DIR))
    overlay = store.read_overlay(home)
    canary = store.read_canary(home)
    learned = [_learned(r) for r in overlay.releases]
    learned_majors = [
        MajorInfo(
            m.engine,
            parse_major(m.engine, m.major),
            m.released,
            m.eol,
            m.mainstream_end,
            m.eol if m.engine is Engine.SQLSERVER else None,
            source=m.source,
        )
        for m in overlay.majors
    ]
    return Catalog(
        [*releases, *learned],
        [*majors, *learned_majors],
        {(c.engine, c.version): c.when for c in canary.validated},
    )
