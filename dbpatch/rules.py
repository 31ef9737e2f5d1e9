"""The rules every input value obeys, in one place: the loader's models, the JSON Schemas and the CLI's
parameter checks all use these, so an editor, ``dbpatch validate`` and a flow run agree.

Patterns are written without anchors and always matched in full (``re.fullmatch``: no trailing newline); the
JSON Schemas get them as ``^(?:…)$``. Every check raises ``ValueError`` with a short sentence.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import posixpath
import re
import zoneinfo
from typing import Any

from dateutil.rrule import DAILY, rrule, rrulestr

NAME = r"[a-z0-9][a-z0-9._-]{0,62}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*"
VERSION = r"\d+(?:\.\d+){1,3}"
PATH = r"/[A-Za-z0-9._/-]*"
# PATH and normalised: no "//", no "." or ".." segment, no trailing "/" (so not "/" itself). The JSON Schema's
# pattern; ``abs_path`` checks the same in two steps for clearer messages.
NORMAL_PATH = r"(?!.*//)(?!.*/\.\.?(?:/|$))/[A-Za-z0-9._/-]*(?<!/)"
# A DNS name that is not all digits and dots (those must be an IPv4 address).
DNS_NAME = rf"(?![\d.]+$){HOSTNAME}"
IP_CHARS = r"[0-9A-Fa-f:.]+"
# systemd units and pg_ctlcluster names (main, postgresql@15-main) and Windows service names
# (MSSQLSERVER, MSSQL$INSTANCE, SQLAgent$INSTANCE).
SERVICE = r"[A-Za-z0-9][A-Za-z0-9._@-]{0,79}(?:\$[A-Za-z0-9_]{1,16})?"
CYCLE_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
DATE = r"\d{4}-\d{2}-\d{2}"
MAX_ERRORS = r"\d{1,9}|(?:100|[1-9]?\d)%"

MAX_HOST_LENGTH = 253
RRULE_HORIZON_DAYS = 400
# Rules are expanded from the same anchor Prefect's RRuleSchedule uses, so INTERVAL>1 rules agree with it.
RRULE_ANCHOR = dt.date(2020, 1, 1)
_FINER_THAN_DAILY = ("BYHOUR", "BYMINUTE", "BYSECOND")


def schema_pattern(body: str) -> str:
    """The JSON Schema spelling of a full-match pattern: JSON Schema searches, so it is anchored; the end is
    "no character follows" rather than ``$``, which Python's ``re`` (used by Python validators) also lets
    match before a trailing newline."""
    return f"^(?:{body})(?![\\s\\S])"


def full(body: str, value: str, what: str) -> str:
    if not re.fullmatch(body, value):
        raise ValueError(f"{value!r} is not a valid {what}")
    return value


def host(value: str) -> str:
    """A DNS name or an IP address (v4 or v6)."""
    if re.fullmatch(IP_CHARS, value):
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            if ":" in value or re.fullmatch(r"[\d.]+", value):
                raise ValueError(f"{value!r} is not a valid IP address") from None
    if len(value) > MAX_HOST_LENGTH or not re.fullmatch(HOSTNAME, value):
        raise ValueError(f"{value!r} is not a valid host name or IP address")
    return value


def abs_path(value: str) -> str:
    """An absolute, normalised path: no ``..``, no ``.``, no ``//``, no trailing slash, not ``/`` itself."""
    full(PATH, value, "absolute path (letters, digits, . _ - /)")
    parts = value.split("/")[1:]
    if value == "/" or ".." in parts or "." in parts or posixpath.normpath(value) != value:
        raise ValueError(f"{value!r} is not a normalised absolute path (no '..', '.', '//' or trailing '/')")
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone(value: str) -> str:
    """An IANA zone name (``Europe/Berlin``, ``UTC``); a region folder like ``America`` is not a zone."""
    if value not in _zones():
        raise ValueError(f"unknown IANA timezone {value!r}")
    return value


def time_of_day(value: Any) -> dt.time:
    """``HH:MM`` (or ``HH:MM:SS``) as text; a number (YAML 1.1 read ``22:00`` as 1320) is refused."""
    if isinstance(value, dt.time):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a time written as 'HH:MM' (quote it: start: '22:00')")
    if not re.fullmatch(TIME, value):
        raise ValueError(f"{value!r} is not a time (HH:MM, 00:00..23:59)")
    return dt.time.fromisoformat(value)


def date(value: Any) -> dt.date:
    """``YYYY-MM-DD`` as text (or a ``date``); numbers and datetimes are refused."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(DATE, value):
        raise ValueError("must be a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar date") from None


def max_errors(value: Any) -> str:
    """A count (``'2'``) or a percentage 0..100 (``'25%'``), written as text."""
    if not isinstance(value, str):
        raise ValueError("must be text: a count ('1') or a percentage ('25%')")
    if re.fullmatch(r"\d{1,9}%", value) and int(value[:-1]) > 100:
        raise ValueError(f"{value!r}: a percentage must be 0..100")
    return full(MAX_ERRORS, value, "count or percentage (e.g. '1' or '25%')")


def cycle_id(value: str) -> str:
    """A cycle id is a name, never a path (it names ``<home>/state/cycles/<id>.json``)."""
    if not isinstance(value, str) or not re.fullmatch(CYCLE_ID, value):
        raise ValueError(f"{value!r} is not a valid cycle id (letters, digits, . _ -; no '/')")
    return value


# --- versions and majors (the shapes of tasks/catalog/versions.py, which this core module cannot import) ------

SQLSERVER_YEARS = {"2016": "13.0", "2017": "14.0", "2019": "15.0", "2022": "16.0", "2025": "17.0"}
_MAJOR_EXAMPLE = {"postgresql": "'15' (9.6 before 10)", "mongodb": "'7.0'", "sqlserver": "'16.0' or '2022'"}


def _ints(text: str) -> tuple[int, ...] | None:
    return tuple(int(p) for p in text.split(".")) if re.fullmatch(r"\d{1,9}(?:\.\d{1,9})*", text) else None


def major(engine: str, key: str) -> str:
    """The canonical major for a policy key (``'15'``, ``'7.0'``, ``'16.0'``; SQL Server also ``'2022'``)."""
    if engine == "sqlserver" and key in SQLSERVER_YEARS:
        return SQLSERVER_YEARS[key]
    p = _ints(key)
    ok = p is not None and {
        "postgresql": lambda p: len(p) == 1 and p[0] >= 10 or len(p) == 2 and p[0] < 10,
        "mongodb": lambda p: len(p) == 2,
        "sqlserver": lambda p: len(p) == 2 and p[1] == 0,
    }[engine](p)
    if not ok:
        raise ValueError(f"{key!r} is not a {engine} major (e.g. {_MAJOR_EXAMPLE[engine]})")
    return ".".join(str(i) for i in p)  # type: ignore[union-attr]


def major_of(engine: str, version: str) -> str:
    """The major a version belongs to; raises when the version does not have the engine's shape."""
    p = _ints(version)
    ok = p is not None and {
        "postgresql": lambda p: len(p) == (2 if p[0] >= 10 else 3),
        "mongodb": lambda p: len(p) == 3,
        "sqlserver": lambda p: len(p) in (3, 4),
    }[engine](p)
    if not ok:
        raise ValueError(f"{version!r} is not a valid {engine} version")
    assert p is not None
    return str(p[0]) if engine == "postgresql" and p[0] >= 10 else f"{p[0]}.{p[1]}"


# --- recurrence ---------------------------------------------------------------------------------------------


def parse_rrule(text: str, start: dt.time) -> rrule:
    """An RFC 5545 RRULE (``FREQ=MONTHLY;BYDAY=+3SA``) anchored at ``RRULE_ANCHOR`` ``start``.

    The window's ``start`` and ``timezone`` set the time, so DTSTART, several rules and anything finer than
    daily are refused.
    """
    upper = text.upper()
    if "DTSTART" in upper:
        raise ValueError("must not set DTSTART (the window's start and timezone set it)")
    if "\n" in text or "\r" in text or upper.count("FREQ=") != 1:
        raise ValueError(f"{text!r}: one rule, e.g. FREQ=MONTHLY;BYDAY=+3SA")
    if any(f"{part}=" in upper for part in _FINER_THAN_DAILY):
        raise ValueError(f"{text!r}: BYHOUR/BYMINUTE/BYSECOND are not allowed (start sets the time)")
    anchor = dt.datetime.combine(RRULE_ANCHOR, start.replace(tzinfo=None))
    try:
        rule = rrulestr(text, dtstart=anchor)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        reason = "UNTIL must be a local date or time (no Z)" if "UNTIL" in str(exc) else str(exc)
        raise ValueError(f"{text!r}: {reason or 'not a valid RRULE'}") from None
    if not isinstance(rule, rrule):
        raise ValueError(f"{text!r}: one rule, e.g. FREQ=MONTHLY;BYDAY=+3SA")
    if rule._freq > DAILY:  # HOURLY, MINUTELY, SECONDLY
        raise ValueError(f"{text!r}: nothing more often than daily (FREQ=DAILY, WEEKLY, MONTHLY, YEARLY)")
    return rule


def rrule_days(rule: rrule, since: dt.datetime, until: dt.datetime) -> list[dt.date]:
    """Distinct dates of ``rule`` in ``since``..``until`` (naive local times)."""
    out: list[dt.date] = []
    try:
        for occurrence in rule.xafter(since, inc=True):
            if occurrence > until:
                break
            if not out or occurrence.date() != out[-1]:
                out.append(occurrence.date())
    except (ValueError, OverflowError):  # dateutil runs past year 9999 on rules that never occur again
        pass
    return out


def _ever(rule: rrule) -> bool:
    """Whether the rule (INTERVAL aside) has any date at all. dateutil looks for a next date up to year 9999,
    seconds for a rule that never occurs; the Gregorian calendar repeats every 400 years, so the last 380
    years (from a start with the anchor's weekday, day and month) answer it in a fraction of that."""
    late = rule._dtstart.replace(year=RRULE_ANCHOR.year + 7600)
    return rule.replace(dtstart=late, interval=1, count=None, until=None).after(late, inc=True) is not None


def recurrence_days(text: str, start: dt.time, today: dt.date) -> list[dt.date]:
    """The rule's dates in the next ``RRULE_HORIZON_DAYS`` days; refused when it has none."""
    rule = parse_rrule(text, start)
    if not _ever(rule):
        raise ValueError(f"{text!r}: the rule has no date at all")
    since = dt.datetime.combine(today, dt.time())
    days = rrule_days(rule, since, since + dt.timedelta(days=RRULE_HORIZON_DAYS))
    if not days:
        raise ValueError(f"{text!r}: no date in the next {RRULE_HORIZON_DAYS} days")
    return days


def shortest_gap(days: list[dt.date]) -> int | None:
    """Fewest days between two consecutive dates, None for a single date."""
    return min(((b - a).days for a, b in zip(days, days[1:], strict=False)), default=None)
