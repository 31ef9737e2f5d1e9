"""Version strings per engine: parse, compare numerically and find the major they belong to.

PostgreSQL ≥ 10 is ``major.minor`` (major "15"), older ones ``9.6.24`` (major "9.6"); MongoDB is
``X.Y.Z`` (series "7.0"); SQL Server is a three- or four-part build ``16.0.4135.4`` (major "16.0").
Callers pass the bare version: ``"15.18"``, not ``"15.18 (Debian 15.18-0+deb12u1)"``.
"""

from __future__ import annotations

import re

from dbpatch.errors import ConfigError
from dbpatch.models import Engine

_DIGITS = re.compile(r"^\d+(?:\.\d+)*$")

# SQL Server product years people type instead of the major ("2022" -> "16.0").
SQLSERVER_YEARS = {"2016": "13.0", "2017": "14.0", "2019": "15.0", "2022": "16.0", "2025": "17.0"}

_SHAPES = {
    Engine.POSTGRESQL: "major.minor, e.g. 15.20 (9.6.24 before 10)",
    Engine.MONGODB: "X.Y.Z, e.g. 7.0.12",
    Engine.SQLSERVER: "a build, e.g. 16.0.4135.4 or 16.0.4135",
}


class VersionError(ConfigError):
    """A version or major string that does not have the engine's shape (bad input: the CLI exits 2)."""


def _ints(text: str) -> tuple[int, ...] | None:
    if not isinstance(text, str) or not _DIGITS.match(text.strip()):
        return None
    return tuple(int(p) for p in text.strip().split("."))


def parse_version(engine: Engine, text: str) -> tuple[int, ...]:
    """The numeric parts of ``text``; raises ``VersionError`` when it is not a version of ``engine``."""
    parts = _ints(text)
    ok = parts is not None and {
        Engine.POSTGRESQL: lambda p: len(p) == (2 if p[0] >= 10 else 3),
        Engine.MONGODB: lambda p: len(p) == 3,
        Engine.SQLSERVER: lambda p: len(p) in (3, 4),
    }[Engine(engine)](parts)
    if not ok:
        raise VersionError(f"{engine} version {text!r}: not a valid version ({_SHAPES[Engine(engine)]})")
    return parts  # type: ignore[return-value]


def is_valid_version(engine: Engine, text: str) -> bool:
    try:
        parse_version(engine, text)
    except VersionError:
        return False
    return True


def canonical(engine: Engine, text: str) -> str:
    """``text`` with leading zeros dropped (``15.09`` -> ``15.9``), so equal versions compare equal as strings."""
    return ".".join(str(p) for p in parse_version(engine, text))


def sort_key(engine: Engine, text: str) -> tuple[int, ...]:
    """Numeric sort key; SQL Server three-part builds sort as if the revision were 0."""
    parts = parse_version(engine, text)
    return parts + (0,) * (4 - len(parts)) if Engine(engine) is Engine.SQLSERVER else parts


def major_of(engine: Engine, text: str) -> str:
    """The major (PostgreSQL "15" or "9.6", MongoDB series "7.0", SQL Server "16.0") of a version."""
    parts = parse_version(engine, text)
    if Engine(engine) is Engine.POSTGRESQL and parts[0] >= 10:
        return str(parts[0])
    return f"{parts[0]}.{parts[1]}"


def parse_major(engine: Engine, text: str) -> str:
    """Validate a major as typed by a person or a policy key; SQL Server also accepts the year ("2022")."""
    engine = Engine(engine)
    raw = str(text).strip()
    if engine is Engine.SQLSERVER and raw in SQLSERVER_YEARS:
        return SQLSERVER_YEARS[raw]
    parts = _ints(raw)
    if engine is Engine.POSTGRESQL:
        ok = parts is not None and (len(parts) == 1 and parts[0] >= 10 or len(parts) == 2 and parts[0] < 10)
    elif engine is Engine.SQLSERVER:
        ok = parts is not None and len(parts) == 2 and parts[1] == 0
    else:
        ok = parts is not None and len(parts) == 2
    if not ok:
        example = {
            Engine.POSTGRESQL: "15 (9.6 before 10)",
            Engine.MONGODB: "7.0",
            Engine.SQLSERVER: "16.0 or 2022",
        }
        raise VersionError(f"{engine} major {text!r}: not a valid major (e.g. {example[engine]})")
    return ".".join(str(p) for p in parts)  # type: ignore[union-attr]


def parse_engine(text: str) -> Engine:
    """An ``Engine`` from user input; unknown names raise a one-line ``ConfigError``."""
    try:
        return Engine(str(text).strip().lower())
    except ValueError:
        raise ConfigError(f"unknown engine {text!r} (one of: {', '.join(e.value for e in Engine)})") from None
