"""Refresh the catalog after its snapshot: from an endoflife.date-style HTTP API or from package sources.

Both paths validate everything first and then write the overlay atomically, so malformed source data is a
``ConfigError`` and the catalog is left exactly as it was. A dated version is never overwritten: the shipped
data has better dates than "latest of a cycle". A package source only says a version is installable, so a
version learned from a host has no release date ("seen on host, date unknown"); a later refresh that knows
its date fills it in.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from dbpatch.errors import ConfigError, PatchError
from dbpatch.models import Engine
from tasks.catalog import store
from tasks.catalog.catalog import HOST_SOURCES, load_catalog
from tasks.catalog.versions import VersionError, canonical, major_of, parse_major
from tasks.host.packages import parse_apt_madison, parse_dnf_list

ENDOFLIFE_PRODUCTS = {
    Engine.POSTGRESQL: "postgresql",
    Engine.MONGODB: "mongodb",
    Engine.SQLSERVER: "mssqlserver",
}
PACKAGE_SOURCES = HOST_SOURCES
MAX_BYTES = 8 * 1024 * 1024


class SourceUnavailable(PatchError):
    """The catalog source could not be reached or answered with an error. ``transient``: retrying may help."""

    def __init__(self, url: str, reason: str, transient: bool):
        self.url = url
        self.reason = reason
        self.transient = transient
        super().__init__(f"{url}: {reason}")


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh added, with one sentence for the log."""

    source: str
    added: tuple[tuple[Engine, str], ...] = ()
    majors_updated: tuple[tuple[Engine, str], ...] = ()
    overlay: Path | None = None
    skipped: tuple[str, ...] = field(default=(), repr=False)

    @property
    def sentence(self) -> str:
        if not self.added and not self.majors_updated:
            return f"{self.source}: catalog already up to date"
        added = ", ".join(f"{e} {v}" for e, v in self.added) or "no releases"
        majors = (
            f"; support dates updated for {len(self.majors_updated)} majors" if self.majors_updated else ""
        )
        return f"{self.source}: added {added}{majors}"


def safe_url(url: str) -> str:
    """``url`` without user info or query string, for messages (they may carry tokens)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def product_url(base_url: str, engine: Engine) -> str:
    """``<base>/api/<product>.json`` (endoflife.date's v0 API)."""
    return f"{base_url.rstrip('/')}/api/{ENDOFLIFE_PRODUCTS[Engine(engine)]}.json"


def fetch_json(url: str, timeout: float = 30.0) -> Any:
    """GET ``url`` and decode JSON. Network trouble and 5xx/429 raise a transient ``SourceUnavailable``."""
    shown = safe_url(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(f"{shown}: catalog source must be an http(s) URL")
    parts = urlsplit(url)
    headers = {"Accept": "application/json", "User-Agent": "dbpatch-catalog"}
    if parts.username is not None:  # user:password@host -> basic auth header; urllib would treat it as a host
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise SourceUnavailable(
            shown, f"HTTP {exc.code} {exc.reason}", exc.code == 429 or exc.code >= 500
        ) from None
    except urllib.error.URLError as exc:
        raise SourceUnavailable(shown, f"cannot connect: {exc.reason}", True) from None
    except (TimeoutError, ConnectionError) as exc:
        raise SourceUnavailable(shown, f"cannot connect: {exc}", True) from None
    if len(body) > MAX_BYTES:
        raise ConfigError(f"{shown}: answer larger than {MAX_BYTES} bytes")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{shown}: not valid JSON: {exc}") from None


# --- endoflife.date answers -----------------------------------------------------------------------------


def _cycles(data: Any, where: str) -> list[dict[str, Any]]:
    """v0 (a list of cycles) or v1 (``{"result": {"releases": [...]}}``), normalised to v0 field names."""
    if isinstance(data, dict) and isinstance(data.get("result"), dict):
        releases = data["result"].get("releases")
        if not isinstance(releases, list):
            raise ConfigError(f"{where}: result.releases: must be a list of release cycles")
        out = []
        for r in releases:
            if not isinstance(r, dict):
                out.append(r)
                continue
            latest: dict[str, Any] = r["latest"] if isinstance(r.get("latest"), dict) else {}
            out.append(
                {
                    "cycle": r.get("name"),
                    "releaseDate": r.get("releaseDate"),
                    "eol": r.get("eolFrom") or r.get("isEol", False),
                    "support": r.get("eoasFrom"),
                    "latest": latest.get("name"),
                    "latestReleaseDate": latest.get("date"),
                }
            )
        data = out
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{where}: (top level): must be a non-empty list of release cycles")
    return data


def _date(value: Any, path: str, problems: list[str], bool_ok: bool = False) -> dt.date | None:
    """An ISO date; None when absent (or a bare true/false where endoflife.date allows one)."""
    if value is None or (bool_ok and isinstance(value, bool)):
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    problems.append(f"{path}: {value!r} is not a date (YYYY-MM-DD)")
    return None


def parse_endoflife(
    engine: Engine, data: Any, where: str, learned: dt.date
) -> tuple[list[store.OverlayRelease], list[store.OverlayMajor]]:
    """Validate an endoflife.date answer and turn each cycle's latest release and support dates into overlay rows."""
    engine = Engine(engine)
    source = urlsplit(where).hostname or where
    problems: list[str] = []
    releases, majors = [], []
    for i, c in enumerate(_cycles(data, where)):
        path = f"{where}: [{i}]"
        if not isinstance(c, dict):
            problems.append(f"{path}: must be a mapping")
            continue
        cycle = str(c.get("cycle")) if isinstance(c.get("cycle"), str | int | float) else None
        head, _, suffix = (cycle or "").partition("-")  # SQL Server service-pack cycles: '13.0-sp3'
        try:
            major = parse_major(engine, head)
            if suffix and engine is not Engine.SQLSERVER:
                raise VersionError("suffix")
        except VersionError:
            problems.append(f"{path}.cycle: {c.get('cycle')!r} is not a {engine} major")
            continue
        released = _date(c.get("releaseDate"), f"{path}.releaseDate", problems)
        eol = _date(c.get("eol"), f"{path}.eol", problems, bool_ok=True)
        support = _date(c.get("support"), f"{path}.support", problems, bool_ok=True)
        latest_date = _date(c.get("latestReleaseDate"), f"{path}.latestReleaseDate", problems)
        latest = c.get("latest")
        if latest is not None:
            text, _, name = str(latest).strip().partition(" ")  # mssqlserver: '16.0.4265.3 CU26'
            try:
                if major_of(engine, text) != major:
                    raise VersionError("other major")
            except VersionError:
                problems.append(f"{path}.latest: {latest!r} is not a {engine} {major} version")
                continue
            releases.append(
                store.OverlayRelease(
                    engine=engine,
                    version=canonical(engine, text),
                    date=latest_date,  # None when the API gives none: never the day we asked
                    source=source,
                    name=name.strip() or None,
                    learned=learned,
                )
            )
        if not suffix:
            majors.append(
                store.OverlayMajor(
                    engine=engine,
                    major=major,
                    released=released,
                    eol=eol,
                    mainstream_end=support if engine is Engine.SQLSERVER else None,
                    source=source,
                )
            )
    if problems:
        raise ConfigError(problems)
    return releases, majors


# --- package sources --------------------------------------------------------------------------------------


def versions_from_package_output(kind: str, output: str, package: str | None = None) -> list[str]:
    """Upstream versions from ``apt-cache madison PKG``, ``dnf --showduplicates list PKG`` or a lab list."""
    if kind == "apt":
        found = list(parse_apt_madison(output, package or ""))
    elif kind == "dnf":
        found = list(parse_dnf_list(output, package or ""))
    elif kind == "lab":
        found = [
            line.strip() for line in output.splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
    else:
        raise ConfigError(f"package source {kind!r}: must be one of {', '.join(PACKAGE_SOURCES)}")
    if not found:
        raise ConfigError(f"{kind} output{f' for {package}' if package else ''}: no versions found")
    return found


def learn_installable(
    engine: Engine,
    versions: Iterable[str],
    source: str,
    learned: dt.date | None = None,
    home: Path | None = None,
) -> RefreshResult:
    """Add versions a host's package source can install (source 'apt', 'dnf' or 'lab'): no release date (a
    package source does not know it), ``learned`` records the day. Versions already known are left alone."""
    if source not in PACKAGE_SOURCES:
        raise ConfigError(f"package source {source!r}: must be one of {', '.join(PACKAGE_SOURCES)}")
    engine = Engine(engine)
    learned = learned or dt.date.today()
    problems, rows = [], []
    for i, v in enumerate(versions):
        try:
            rows.append(
                store.OverlayRelease(
                    engine=engine, version=canonical(engine, v), date=None, source=source, learned=learned
                )
            )
        except VersionError:
            problems.append(f"{source} versions[{i}]: {v!r} is not a valid {engine} version")
    if problems:
        raise ConfigError(problems)
    return apply(rows, [], source, home)


def refresh_from_endoflife(
    base_url: str = "https://endoflife.date",
    engines: Iterable[Engine] | None = None,
    home: Path | None = None,
    learned: dt.date | None = None,
    timeout: float = 30.0,
) -> RefreshResult:
    """Fetch every engine's cycles, validate all of them, then write one overlay (all or nothing)."""
    learned = learned or dt.date.today()
    rows: list[store.OverlayRelease] = []
    majors: list[store.OverlayMajor] = []
    for engine in engines or list(Engine):
        url = product_url(base_url, engine)
        r, m = parse_endoflife(engine, fetch_json(url, timeout), safe_url(url), learned)
        rows += r
        majors += m
    return apply(rows, majors, urlsplit(base_url).hostname or base_url, home)


def apply(
    releases: list[store.OverlayRelease],
    majors: list[store.OverlayMajor],
    source: str,
    home: Path | None = None,
) -> RefreshResult:
    """Merge validated rows into the overlay: unknown versions are added, a date fills in an overlay version that
    had none (learned from a host), changed support dates replace old ones. A known date is never changed."""
    catalog = load_catalog(home)  # also validates the current overlay before we touch it
    overlay = store.read_overlay(home)
    new_rows, added = list(overlay.releases), []
    for r in releases:
        known = catalog.release(r.engine, r.version)
        if (r.engine, r.version) in added:
            continue
        if known is None:
            new_rows.append(r)
            added.append((r.engine, r.version))
        elif known.date is None and r.date is not None:
            undated = [
                i for i, o in enumerate(new_rows) if o.engine is r.engine and o.version == known.version
            ]
            if undated:  # an overlay row (shipped rows win in the catalog and are never replaced)
                new_rows[undated[0]] = r
                added.append((r.engine, r.version))
    new_majors = {(m.engine, m.major): m for m in overlay.majors}
    updated = []
    for m in majors:
        info = catalog.major_info(m.engine, m.major)
        if info is not None and all(
            new is None or new == old
            for new, old in (
                (m.released, info.released),
                (m.eol, info.eol),
                (m.mainstream_end, info.mainstream_end),
            )
        ):
            continue
        new_majors[(m.engine, m.major)] = m
        updated.append((m.engine, m.major))
    if not added and not updated:
        return RefreshResult(source)
    path = store.write_overlay(store.Overlay(releases=new_rows, majors=list(new_majors.values())), home)
    return RefreshResult(source, tuple(added), tuple(updated), path)
