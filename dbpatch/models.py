"""Inventory and policy: the two files a DBA writes, validated declaratively (pydantic v2).

Every model forbids unknown keys. ``load_inventory`` / ``load_policy`` turn any problem into a
``ConfigError`` with one line per problem, naming the file and the field path. ``dbpatch schema`` exports
the JSON Schema for editors.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from dbpatch.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


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

NAME_RE = r"^[a-z0-9][a-z0-9._-]{0,62}$"
HOST_RE = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9a-fA-F:]+$"
VERSION_RE = r"^\d+(?:\.\d+){1,3}$"
PATH_RE = r"^/[A-Za-z0-9._/-]*$"


def _matches(pattern: str, what: str):
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if not rx.match(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return check


def _int_range(lo: int, hi: int):
    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"must be {lo}..{hi}")
        return value

    return Annotated[
        int, AfterValidator(check), WithJsonSchema({"type": "integer", "minimum": lo, "maximum": hi})
    ]


def _num_range(lo: float, hi: float):
    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise ValueError(f"must be {lo:g}..{hi:g}")
        return value

    return Annotated[
        float, AfterValidator(check), WithJsonSchema({"type": "number", "minimum": lo, "maximum": hi})
    ]


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {value!r}") from None
    return value


Name = Annotated[str, AfterValidator(_matches(NAME_RE, "name (a-z, 0-9, . _ -)"))]
Host = Annotated[str, AfterValidator(_matches(HOST_RE, "host name or IP address"))]
Version = Annotated[str, AfterValidator(_matches(VERSION_RE, "version (digits and dots, e.g. 15.20)"))]
AbsPath = Annotated[str, AfterValidator(_matches(PATH_RE, "absolute path (letters, digits, . _ - /)"))]
Port = _int_range(1, 65535)
TimeZone = Annotated[str, AfterValidator(_timezone)]


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
    service: Name | None = Field(
        default=None,
        description="Service or cluster name on the host (e.g. 'main' for pg_ctlcluster 15 main).",
    )

    @property
    def cluster_name(self) -> str:
        return self.cluster or self.name

    @model_validator(mode="after")
    def _access_needs_block(self) -> Target:
        if self.access is not Access.LOCAL and not self.host_access:
            raise ValueError(
                f"access '{self.access.value}' needs host_access (the name of an SSH or WinRM block)"
            )
        if self.engine is Engine.SQLSERVER and self.os is not OS.WINDOWS:
            raise ValueError("sqlserver targets must have os: windows")
        return self


class Inventory(StrictModel):
    """The fleet: every database instance dbpatch may look at or patch."""

    targets: list[Target] = Field(description="Database instances.")

    @model_validator(mode="after")
    def _unique_names(self) -> Inventory:
        seen: set[str] = set()
        for t in self.targets:
            if t.name in seen:
                raise ValueError(f"duplicate target name {t.name!r}")
            seen.add(t.name)
        return self

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
            raise ConfigError(f"selection: unknown target or cluster: {', '.join(unknown)}")
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
    approve_until_date: dt.date | None = Field(
        default=None, description="Auto-approval considers only releases on or before this date."
    )
    approve_on_canary: bool = Field(
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
    backup_check_command: list[str] | None = Field(
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
    rrule: str = Field(
        default="FREQ=MONTHLY;BYDAY=+3SA", description="Recurrence of the window start day (RFC 5545 RRULE)."
    )
    start: dt.time = Field(default=dt.time(22, 0), description="Local start time of the window.")
    timezone: TimeZone = Field(default="UTC", description="IANA timezone of the window.")
    duration_hours: _num_range(0.5, 72) = Field(default=6.0, description="Length of the window.")  # type: ignore[valid-type]
    cutoff_hours: _num_range(0, 72) = Field(  # type: ignore[valid-type]
        default=1.0, description="No new cluster starts in the last N hours of the window."
    )


class Blackout(StrictModel):
    name: str = Field(description="Why (e.g. year-end freeze).")
    start: dt.date = Field(description="First day of the blackout (inclusive).")
    end: dt.date = Field(description="Last day of the blackout (inclusive).")
    action: Literal["skip", "move"] = Field(
        default="skip", description="Skip the cycle or move it after the end."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Blackout:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class Waves(StrictModel):
    order: list[Name] = Field(
        default_factory=lambda: ["dev", "test", "staging", "prod"],
        description="Environments in wave order after the canary (others follow, by name).",
    )
    max_concurrency: _int_range(1, 50) = Field(default=2, description="Clusters patched at once.")  # type: ignore[valid-type]
    max_errors: str = Field(
        default="1", pattern=r"^\d+%?$", description="Failed clusters that halt a wave: a count or a percent."
    )
    approval_required: list[Name] = Field(
        default_factory=lambda: ["prod"], description="Environments whose wave waits for a person's approval."
    )


class Policy(StrictModel):
    """What 'compliant' means and how patching may proceed."""

    baselines: dict[Engine, dict[str, Baseline]] = Field(
        default_factory=dict, description="Approval rules per engine and major ('15', '7.0', '16.0')."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    canary: Canary = Field(default_factory=Canary)
    windows: list[MaintenanceWindow] = Field(default_factory=list)
    blackouts: list[Blackout] = Field(default_factory=list)
    waves: Waves = Field(default_factory=Waves)

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
    "time_parsing": "must be a time (HH:MM)",
}


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-")) or part in ("str", "int", "float"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "enum":
        return f"must be one of: {err['ctx']['expected']}".replace("'", "")
    if kind == "literal_error":
        return f"must be one of: {err['ctx']['expected']}".replace("'", "")
    if kind == "string_pattern_mismatch":
        return f"{err['input']!r} does not match {err['ctx']['pattern']}"
    return _TYPE_MESSAGES.get(kind, str(err["msg"]).lower())


def format_validation_error(source: str, exc: ValidationError) -> list[str]:
    """One line per problem: ``<file>: <field path>: <message>``."""
    lines = []
    for err in exc.errors(include_url=False):
        lines.append(f"{source}: {_field_path(tuple(err['loc']))}: {_message(dict(err))}")
    return lines


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path.name}: {where}: invalid YAML: {problem}") from None


def parse_model(model: type[M], data: Any, source: str) -> M:
    """Validate ``data`` as ``model``; every problem becomes one ConfigError line naming ``source``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): must be a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def load_inventory(path: str | Path) -> Inventory:
    return parse_model(Inventory, read_yaml(path), Path(path).name)


def load_policy(path: str | Path) -> Policy:
    return parse_model(Policy, read_yaml(path), Path(path).name)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas for editors (``dbpatch schema``)."""
    return {"inventory": Inventory.model_json_schema(), "policy": Policy.model_json_schema()}
