"""Inventory and policy: the two files a DBA writes, validated declaratively (pydantic v2).

Every model forbids unknown keys. ``load_inventory`` / ``load_policy`` turn any problem into a
``ConfigError`` with one line per problem, naming the file and the field path. ``dbpatch schema`` exports
the JSON Schema for editors.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from dbpatch import loader, rules
from dbpatch.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _no_control(value: str) -> str:
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise ValueError(f"{value!r} contains a control character")
    return value


def _major_key(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"write the major as quoted text ('{value}'), not a number")
    return value


class Engine(StrEnum):
    POSTGRESQL = "postgresql"
    MONGODB = "mongodb"
    SQLSERVER = "sqlserver"


class Access(StrEnum):
    """How dbpatch reaches the host to stop, install and start the database."""

    LOCAL = "local"
    SSH = "ssh"
    WINRM = "winrm"


class PackageSource(StrEnum):
    """Where a node's database binaries come from."""

    APT = "apt"  # Debian/Ubuntu: apt-get install postgresql-15=15.20-… / mongodb-org=…
    DNF = "dnf"  # RHEL family: PGDG / MongoDB repos
    LAB = "lab"  # dbpatch's local lab: versioned builds in a cache directory
    SQLSERVER_CU = "sqlserver-cu"  # Windows: cumulative-update installer run over WinRM


class OS(StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"


# --- constrained scalars -------------------------------------------------------------------------------
# Strict: no bool -> int, no "1" -> 1. Patterns come from dbpatch.rules and are matched in full; the JSON
# Schemas carry the same patterns.

NAME_RE = rules.schema_pattern(rules.NAME)
VERSION_RE = rules.schema_pattern(rules.VERSION)


def _matches(body: str, what: str):
    def check(value: str) -> str:
        return rules.full(body, value, what)

    return check


def _int_range(lo: int, hi: int):
    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"must be {lo}..{hi}")
        return value

    return Annotated[
        int,
        Strict(),
        AfterValidator(check),
        WithJsonSchema({"type": "integer", "minimum": lo, "maximum": hi}),
    ]


def _num_range(lo: float, hi: float):
    def check(value: float) -> float:
        if not lo <= value <= hi:  # also refuses NaN
            raise ValueError(f"must be {lo:g}..{hi:g}")
        return value

    return Annotated[
        float,
        Strict(),
        AfterValidator(check),
        WithJsonSchema({"type": "number", "minimum": lo, "maximum": hi}),
    ]


def _pattern(body: str) -> dict[str, str]:
    return {"pattern": rules.schema_pattern(body)}


Name = Annotated[
    str,
    Strict(),
    AfterValidator(_matches(rules.NAME, "name (a-z, 0-9, . _ -)")),
    WithJsonSchema({"type": "string", **_pattern(rules.NAME)}),
]
Host = Annotated[
    str,
    Strict(),
    AfterValidator(rules.host),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [
                {**_pattern(rules.DNS_NAME), "maxLength": rules.MAX_HOST_LENGTH},
                {"format": "ipv4"},
                {"format": "ipv6", **_pattern(rules.IP_CHARS)},
            ],
        }
    ),
]
Version = Annotated[
    str,
    Strict(),
    AfterValidator(_matches(rules.VERSION, "version (digits and dots, e.g. 15.20)")),
    WithJsonSchema({"type": "string", **_pattern(rules.VERSION)}),
]
AbsPath = Annotated[
    str,
    Strict(),
    AfterValidator(rules.abs_path),
    WithJsonSchema({"type": "string", **_pattern(rules.NORMAL_PATH)}),
]
Service = Annotated[
    str,
    Strict(),
    AfterValidator(
        _matches(rules.SERVICE, "service name (e.g. main, postgresql@15-main, MSSQLSERVER, MSSQL$PROD)")
    ),
    WithJsonSchema({"type": "string", **_pattern(rules.SERVICE)}),
]
Port = _int_range(1, 65535)
TimeZone = Annotated[
    str,
    Strict(),
    AfterValidator(rules.timezone),
    WithJsonSchema({"type": "string", "description": "IANA timezone, e.g. Europe/Berlin"}),
]
Text = Annotated[str, Strict(), AfterValidator(_no_control)]
Flag = Annotated[bool, Strict()]
TimeOfDay = Annotated[
    dt.time,
    Strict(),
    BeforeValidator(rules.time_of_day),
    WithJsonSchema({"type": "string", **_pattern(rules.TIME)}),
]
Day = Annotated[
    dt.date, Strict(), BeforeValidator(rules.date), WithJsonSchema({"type": "string", "format": "date"})
]
MaxErrors = Annotated[
    str,
    Strict(),
    BeforeValidator(rules.max_errors),
    WithJsonSchema({"type": "string", **_pattern(rules.MAX_ERRORS)}),
]
MajorKey = Annotated[str, Strict(), BeforeValidator(_major_key), WithJsonSchema({"type": "string"})]


class Problems(ValueError):
    """Problems found by a model's cross-field check, each with its field path relative to that model
    (``format_validation_error`` appends it to the model's own path)."""

    def __init__(self, items: list[tuple[tuple[Any, ...], str]] | None = None):
        self.items = list(items or [])
        super().__init__("; ".join(msg for _, msg in self.items))

    def add(self, loc: tuple[Any, ...], message: str) -> None:
        self.items.append((loc, message))
        self.args = ("; ".join(msg for _, msg in self.items),)

    def raise_or(self, model: M) -> M:
        if self.items:
            raise self
        return model


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


# --- inventory -----------------------------------------------------------------------------------------


class Target(StrictModel):
    """One database instance (a PostgreSQL cluster node, a replica-set member, a SQL Server instance)."""

    name: Name = Field(description="Unique name of the instance, e.g. pg-orders-1.")
    engine: Engine = Field(description="Database engine.")
    environment: Name = Field(description="Environment (dev, test, prod, …): decides wave order and windows.")
    cluster: Name | None = Field(
        default=None,
        description="Cluster this node belongs to (replication group, replica set, availability group). "
        "Omitted: a standalone instance, its own cluster.",
    )
    host: Host = Field(description="Host name or IP address the database listens on.")
    port: Port = Field(description="Database port.")  # type: ignore[valid-type]
    os: OS = Field(default=OS.LINUX, description="Operating system of the host.")
    tags: list[Name] = Field(default_factory=list, description="Free tags; 'canary' marks canary candidates.")
    group: Name | None = Field(
        default=None, description="Patch group: a window listing this group wins over the environment's."
    )
    credentials: Name = Field(description="Name of the Prefect block with the database credentials.")
    access: Access = Field(
        default=Access.LOCAL, description="How dbpatch reaches the host (local, ssh, winrm)."
    )
    host_access: Name | None = Field(
        default=None,
        description="Name of the Prefect block for host access (SSH or WinRM); required unless local.",
    )
    package_source: PackageSource = Field(
        description="Where binaries come from: apt, dnf, lab, sqlserver-cu."
    )
    data_directory: AbsPath | None = Field(
        default=None, description="Data directory (PostgreSQL lab nodes and hosts without a service wrapper)."
    )
    service: Service | None = Field(
        default=None,
        description="Service or cluster name on the host (e.g. 'main' for pg_ctlcluster 15 main, "
        "'MSSQLSERVER' or 'MSSQL$INSTANCE' on Windows).",
    )

    @property
    def cluster_name(self) -> str:
        return self.cluster or self.name

    @model_validator(mode="after")
    def _access_needs_block(self) -> Target:
        problems = Problems()
        if self.access is not Access.LOCAL and not self.host_access:
            problems.add(
                (), f"access '{self.access.value}' needs host_access (the name of an SSH or WinRM block)"
            )
        if self.engine is Engine.SQLSERVER and self.os is not OS.WINDOWS:
            problems.add(("os",), "sqlserver targets must have os: windows")
        return problems.raise_or(self)


class Inventory(StrictModel):
    """The fleet: every database instance dbpatch may look at or patch."""

    targets: list[Target] = Field(description="Database instances.")

    @model_validator(mode="after")
    def _cross_references(self) -> Inventory:
        """Target names are unique; the members of a cluster share one engine."""
        problems = Problems()
        names: dict[str, int] = {}
        engines: dict[str, tuple[int, Engine]] = {}
        for i, t in enumerate(self.targets):
            if t.name in names:
                problems.add(
                    ("targets", i, "name"),
                    f"duplicate target name {t.name!r} (also targets[{names[t.name]}])",
                )
            names.setdefault(t.name, i)
            first, engine = engines.setdefault(t.cluster_name, (i, t.engine))
            if engine is not t.engine:
                problems.add(
                    ("targets", i, "engine"),
                    f"cluster {t.cluster_name!r} mixes engines: {t.engine.value} here, {engine.value} in targets[{first}]",
                )
        return problems.raise_or(self)

    def clusters(self) -> dict[str, list[Target]]:
        """Targets grouped by cluster name, in inventory order."""
        out: dict[str, list[Target]] = {}
        for t in self.targets:
            out.setdefault(t.cluster_name, []).append(t)
        return out

    def select(self, names: list[str] | None) -> Inventory:
        """Targets whose name or cluster is in ``names``: all when None, none for an empty list (never "all by
        accident"); unknown names are an error."""
        if names is None:
            return self
        known = {t.name for t in self.targets} | {t.cluster_name for t in self.targets}
        unknown = sorted(set(names) - known)
        if unknown:
            shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
            raise ConfigError(f"parameters: targets: unknown target or cluster: {shown}")
        wanted = set(names)
        return Inventory(targets=[t for t in self.targets if t.name in wanted or t.cluster_name in wanted])


# --- policy --------------------------------------------------------------------------------------------


class Baseline(StrictModel):
    """Approval rules for one engine major (like an AWS Patch Manager baseline).

    A version is approved on date D when it is not rejected and either listed in ``approved`` or released
    at least ``approve_after_days`` days before D (and not after ``approve_until_date``). The approved
    version is the newest approved one.
    """

    approved: list[Version] = Field(default_factory=list, description="Explicitly approved versions.")
    rejected: list[Version] = Field(default_factory=list, description="Never approved (rejected wins).")
    approve_after_days: _int_range(0, 3650) | None = Field(  # type: ignore[valid-type]
        default=None, description="Auto-approve a release this many days after its release date."
    )
    approve_until_date: Day | None = Field(
        default=None, description="Auto-approval considers only releases on or before this date."
    )
    approve_on_canary: Flag = Field(
        default=False, description="A version that passed a canary wave becomes approved."
    )
    max_behind: _int_range(0, 100) = Field(  # type: ignore[valid-type]
        default=0,
        description="Releases (SQL Server: CUs) a target may lag the approved one and stay compliant.",
    )


OpenTransactions = Literal["abort", "terminate"]


class Thresholds(StrictModel):
    """Limits every pre- and post-check measures against."""

    max_lag_bytes: _int_range(0, 1 << 40) = Field(  # type: ignore[valid-type]
        default=16 * 1024 * 1024, description="Largest replication lag in bytes a standby may have."
    )
    max_lag_seconds: _num_range(0, 86400) = Field(  # type: ignore[valid-type]
        default=10.0, description="Largest replication lag in seconds a standby may have."
    )
    max_transaction_age_seconds: _num_range(0, 86400) = Field(  # type: ignore[valid-type]
        default=15.0, description="Oldest open transaction allowed before a node is restarted."
    )
    min_free_disk_bytes: _int_range(0, 1 << 50) = Field(  # type: ignore[valid-type]
        default=1 << 30, description="Free space needed on the data directory's filesystem."
    )
    catchup_timeout_seconds: _num_range(1, 86400) = Field(  # type: ignore[valid-type]
        default=300.0, description="How long a restarted node may take to stream and catch up."
    )
    drain_seconds: _num_range(0, 3600) = Field(  # type: ignore[valid-type]
        default=10.0,
        description="At the handover, how long to wait for open write transactions on the primary to finish.",
    )
    open_transactions: OpenTransactions = Field(
        default="abort",
        description="Write transactions still open after drain_seconds: 'abort' the handover (nothing is "
        "stopped) or 'terminate' them (their sessions are ended and counted in the run report).",
    )
    refresh_package_lists: Flag = Field(
        default=True,
        description="Refresh the hosts' package lists (apt-get update, dnf makecache) before reading what is "
        "installable; turn off where a local mirror is refreshed by other means.",
    )
    backup_check_command: list[Text] | None = Field(
        default=None,
        description="Optional command (argument list) run on the cluster's first host; exits 0 when a recent "
        "enough backup exists (its last output line is reported); "
        "{cluster} and {target} are substituted.",
    )


class Canary(StrictModel):
    count: _int_range(0, 100) = Field(default=1, description="How many targets the canary wave patches.")  # type: ignore[valid-type]
    tag: Name = Field(default="canary", description="Targets with this tag are preferred canaries.")
    bake_hours: _num_range(0, 168) = Field(  # type: ignore[valid-type]
        default=12.0, description="Wait after the canary before the waves."
    )


class MaintenanceWindow(StrictModel):
    """When patching may run for some environments or groups."""

    name: Name = Field(description="Window name.")
    environments: list[Name] = Field(default_factory=list, description="Environments this window applies to.")
    groups: list[Name] = Field(default_factory=list, description="Patch groups this window applies to.")
    rrule: Text = Field(
        default="FREQ=MONTHLY;BYDAY=+3SA", description="Recurrence of the window start day (RFC 5545 RRULE)."
    )
    start: TimeOfDay = Field(
        default=dt.time(22, 0), description="Local start time of the window, quoted: '22:00'."
    )
    timezone: TimeZone = Field(default="UTC", description="IANA timezone of the window.")
    duration_hours: _num_range(0.5, 72) = Field(default=6.0, description="Length of the window.")  # type: ignore[valid-type]
    cutoff_hours: _num_range(0, 72) = Field(  # type: ignore[valid-type]
        default=1.0, description="No new cluster starts in the last N hours of the window."
    )

    @model_validator(mode="after")
    def _recurrence(self) -> MaintenanceWindow:
        """The rule parses, occurs in the next 400 days, and each instance ends before the next starts."""
        problems = Problems()
        if self.cutoff_hours >= self.duration_hours:
            problems.add(
                ("cutoff_hours",),
                f"{self.cutoff_hours:g} h leaves no time in a {self.duration_hours:g} h window "
                "(must be less than duration_hours)",
            )
        try:
            gap = rules.shortest_gap(rules.recurrence_days(self.rrule, self.start, dt.date.today()))
        except ValueError as exc:
            problems.add(("rrule",), str(exc))
        else:
            if gap is not None and self.duration_hours >= gap * 24:
                problems.add(
                    ("duration_hours",),
                    f"{self.duration_hours:g} h is not shorter than the time between two dates of the rule ({gap} d)",
                )
        return problems.raise_or(self)


class Blackout(StrictModel):
    name: Text = Field(description="Why (e.g. year-end freeze).")
    start: Day = Field(description="First day of the blackout (inclusive).")
    end: Day = Field(description="Last day of the blackout (inclusive).")
    action: Literal["skip", "move"] = Field(
        default="skip", description="Skip the cycle or move it after the end."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Blackout:
        if self.end < self.start:
            raise Problems([(("end",), f"{self.end} is before start {self.start}")])
        return self


class Waves(StrictModel):
    order: list[Name] = Field(
        default_factory=lambda: ["dev", "test", "staging", "prod"],
        description="Environments in wave order after the canary (others follow, by name).",
    )
    max_concurrency: _int_range(1, 50) = Field(default=2, description="Clusters patched at once.")  # type: ignore[valid-type]
    max_errors: MaxErrors = Field(
        default="1",
        description="Failed clusters that halt a wave: a count ('1') or a percent 0..100 ('25%').",
    )
    approval_required: list[Name] = Field(
        default_factory=lambda: ["prod"], description="Environments whose wave waits for a person's approval."
    )


class Policy(StrictModel):
    """What 'compliant' means and how patching may proceed."""

    baselines: dict[Engine, dict[MajorKey, Baseline]] = Field(
        default_factory=dict, description="Approval rules per engine and major ('15', '7.0', '16.0')."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    canary: Canary = Field(default_factory=Canary)
    windows: list[MaintenanceWindow] = Field(default_factory=list)
    blackouts: list[Blackout] = Field(default_factory=list)
    waves: Waves = Field(default_factory=Waves)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        """Majors are well-formed and unique, versions belong to their major, window names are unique."""
        problems = Problems()
        for engine, majors in self.baselines.items():
            seen: dict[str, str] = {}
            for key, baseline in majors.items():
                where: tuple[Any, ...] = ("baselines", engine.value, key)
                try:
                    canonical = rules.major(engine.value, key)
                except ValueError as exc:
                    problems.add(where, str(exc))
                    continue
                if canonical in seen:
                    problems.add(where, f"the same major as {seen[canonical]!r}")
                seen.setdefault(canonical, key)
                for field in ("approved", "rejected"):
                    for i, version in enumerate(getattr(baseline, field)):
                        try:
                            belongs = rules.major_of(engine.value, version) == canonical
                        except ValueError as exc:
                            problems.add((*where, field, i), str(exc))
                            continue
                        if not belongs:
                            problems.add(
                                (*where, field, i), f"{version!r} is not a {engine.value} {key} version"
                            )
        names: dict[str, int] = {}
        for i, window in enumerate(self.windows):
            if window.name in names:
                problems.add(
                    ("windows", i, "name"),
                    f"duplicate window name {window.name!r} (also windows[{names[window.name]}])",
                )
            names.setdefault(window.name, i)
        return problems.raise_or(self)

    def baseline(self, engine: Engine, major: str) -> Baseline | None:
        return self.baselines.get(engine, {}).get(major)


# --- loading -------------------------------------------------------------------------------------------

_TYPE_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown key",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_type": "must be a date (YYYY-MM-DD)",
    "time_parsing": "must be a time (HH:MM)",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "int_from_float": "must be a whole number",
}


_SKIP = ("function-", "constrained-", "[key]")


def _clean(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error location without its validator steps: the path as written in the file."""
    out: list[Any] = []
    for p in loc:
        if (
            p == "[key]" and out
        ):  # the error is about a mapping key: a number key is still a key, not an index
            out[-1] = _Key(out[-1])
        elif isinstance(p, int | float) or not str(p).startswith(_SKIP) and p not in ("str", "int", "float"):
            out.append(p)
    return tuple(out)


class _Key(str):
    """A mapping key that YAML read as a number (``15:``): shown as a key, not as an index."""


def _field_path(loc: tuple[Any, ...]) -> str:
    """``targets[1].port``; a key that is not plain text is quoted (``targets[0].'\\n'``)."""
    out = ""
    for part in _clean(loc):
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            text = str(part) if re.fullmatch(r"[\w.$@-]+", str(part), re.ASCII) else repr(str(part))
            out += f".{text}" if out else text
    return out or "(top level)"


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind in ("enum", "literal_error"):
        return f"must be one of: {err['ctx']['expected']}".replace("'", "")
    if kind == "string_pattern_mismatch":
        return f"{err['input']!r} does not match {err['ctx']['pattern']}"
    if kind in ("int_type", "float_type", "bool_type", "string_type") and isinstance(
        err.get("input"), bool | str
    ):
        return f"{_TYPE_MESSAGES.get(kind, kind)}, not {err['input']!r}"
    return _TYPE_MESSAGES.get(kind, str(err["msg"]).lower())


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    """The line of the field, else of the nearest enclosing value that is in the file. Paths compare as
    text: pydantic reports the mapping key 7.0 as '7.0'."""
    path = tuple(str(p) for p in loc)
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def _misspelt(errors: list[dict[str, Any]]) -> dict[int, str]:
    """Unknown keys that are a missing key misspelt (``Host`` for ``host``): error index -> the right key,
    and "" for the "required field is missing" that is then dropped, so one mistake is one line."""
    missing = {_clean(tuple(e["loc"])): i for i, e in enumerate(errors) if e["type"] == "missing"}
    out: dict[int, str] = {}
    for i, e in enumerate(errors):
        loc = _clean(tuple(e["loc"]))
        if e["type"] != "extra_forbidden" or not loc:
            continue
        siblings = {str(m[-1]): m for m in missing if m[:-1] == loc[:-1] and missing[m] not in out}
        close = difflib.get_close_matches(str(loc[-1]).lower(), list(siblings), n=1, cutoff=0.6)
        if close:
            out[i] = close[0]
            out[missing[siblings[close[0]]]] = ""
    return out


def format_validation_error(
    source: str, exc: ValidationError, lines: loader.Lines | None = None
) -> list[str]:
    """One line per problem: ``<file>: line <n>: <field path>: <message>`` (the line when it is known)."""
    out = []
    by_text = {tuple(str(p) for p in k): v for k, v in (lines or {}).items()}
    errors: list[dict[str, Any]] = [dict(e) for e in exc.errors(include_url=False)]
    renamed = _misspelt(errors)
    for i, err in enumerate(errors):
        if renamed.get(i) == "":
            continue
        loc = _clean(tuple(err["loc"]))
        problem = (err.get("ctx") or {}).get("error")
        message = _message(err) + (f" (did you mean {renamed[i]!r}?)" if i in renamed else "")
        items = problem.items if isinstance(problem, Problems) else [((), message)]
        for sub, message in items:
            where = (*loc, *sub)
            line = _line_of(where, by_text) if by_text else None
            out.append(
                loader.printable(
                    f"{source}: {f'line {line}: ' if line else ''}{_field_path(where)}: {message}"
                )
            )
    return out


def read_yaml(path: str | Path) -> Any:
    """The data of a YAML file, through the strict loader (``dbpatch.loader``)."""
    return loader.load(path)[0]


def parse_model(model: type[M], data: Any, source: str, lines: loader.Lines | None = None) -> M:
    """Validate ``data`` as ``model``; every problem becomes one ConfigError line naming ``source``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): must be a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc, lines)) from None
    except RecursionError:  # the loader limits depth; data from elsewhere may not be limited
        raise ConfigError(f"{source}: (top level): nested too deeply") from None


def load_file(model: type[M], path: str | Path) -> M:
    """Load and validate one YAML file as ``model``: the one way every input file is read."""
    data, lines = loader.load(path)
    return parse_model(model, data, Path(path).name, lines)


def load_inventory(path: str | Path) -> Inventory:
    return load_file(Inventory, path)


def load_policy(path: str | Path) -> Policy:
    return load_file(Policy, path)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas for editors (``dbpatch schema``)."""
    return {"inventory": Inventory.model_json_schema(), "policy": Policy.model_json_schema()}
