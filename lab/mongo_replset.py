"""The state of a simulated MongoDB replica set: members, optimes, elections, faults (no sockets here).

Time drives everything lazily: every read calls ``tick(now)``, which finishes STARTUP2 and runs due elections, so
no background thread is needed. Optimes are wall-clock seconds (floats) turned into BSON timestamps on the wire:
the primary's optime is "now" (as if its periodic no-op writer ran constantly), a secondary follows ``lag`` seconds
behind, a restarted member catches up over ``catchup_seconds``. Everything here is the simulator's own model; the
engine code never imports it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

# maxWireVersion per series, as real mongod reports it.
WIRE_VERSIONS = {
    "4.4": 9, "5.0": 13, "5.1": 14, "5.2": 15, "5.3": 16, "6.0": 17, "6.1": 18, "6.2": 19, "6.3": 20,
    "7.0": 21, "7.1": 22, "7.2": 23, "7.3": 24, "8.0": 25, "8.1": 26, "8.2": 27, "8.3": 28,
}  # fmt: skip
LTS_CHAIN = ("4.4", "5.0", "6.0", "7.0", "8.0")


class State(IntEnum):
    """Replica-set member states; the value is the numeric ``state`` of ``replSetGetStatus``."""

    STARTUP = 0
    PRIMARY = 1
    SECONDARY = 2
    RECOVERING = 3
    STARTUP2 = 5
    UNKNOWN = 6
    ARBITER = 7
    DOWN = 8
    ROLLBACK = 9


class SimError(Exception):
    """A refused operation, with the server error code the wire layer answers with."""

    def __init__(self, code: int, code_name: str, message: str):
        self.code, self.code_name = code, code_name
        super().__init__(message)


def series_of(version: str) -> str:
    return ".".join(version.split(".")[:2])


def wire_version(version: str) -> int:
    try:
        return WIRE_VERSIONS[series_of(version)]
    except KeyError:
        raise ValueError(f"the simulator does not know MongoDB series {series_of(version)}") from None


def allowed_fcvs(version: str) -> tuple[str, ...]:
    """FCVs a binary can run with: the last LTS and its own series (rapid releases also the previous minor)."""
    series = series_of(version)
    major, minor = (int(p) for p in series.split("."))
    if minor == 0:
        idx = LTS_CHAIN.index(series) if series in LTS_CHAIN else 0
        return (LTS_CHAIN[idx - 1], series) if idx > 0 else (series,)
    previous = (f"{major}.0",) + ((f"{major}.{minor - 1}",) if minor > 1 else ())
    return (*previous, series)


@dataclass
class SimConfig:
    """How the simulated set behaves. Times are seconds; short values make tests fast."""

    set_name: str = "rs0"
    members: int = 3
    version: str = "7.0.12"
    fcv: str | None = None  # default: the version's series
    lag_seconds: float = 0.0  # steady-state lag of every secondary
    startup_seconds: float = 1.0  # STARTUP2 after a start
    catchup_seconds: float = 1.5  # a restarted member reaches the primary's optime over this long
    election_seconds: float = 0.5  # a caught-up secondary steps up after a stepDown
    failover_seconds: float = 10.0  # electionTimeoutMillis: primary lost without stepping down
    oplog_hours: float = 48.0


@dataclass
class Member:
    index: int
    port: int
    version: str
    running: bool = True
    state: State = State.SECONDARY
    priority: float = 1.0
    lag: float = 0.0
    stuck: bool = False  # fault: never catches up
    initial_sync: bool = False
    forced: State | None = None  # fault: RECOVERING / ROLLBACK
    frozen_until: float = 0.0
    ready_at: float | None = None
    started_at: float = 0.0
    last_optime: float = 0.0  # frozen optime while stopped, starting or faulted
    catchup_start: float = 0.0
    oplog_hours: float = 48.0
    saved_priority: float | None = None
    crash_unless: str | None = None  # fault: a start under any other version crashes (a bad build)

    @property
    def name(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class ReplicaSet:
    """Members plus set-wide state (term, FCV, pending election, test collection)."""

    config: SimConfig
    ports: list[int]
    clock: Callable[[], float] = time.time
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        now = self.clock()
        cfg = self.config
        self.members = [
            Member(
                i,
                port,
                cfg.version,
                started_at=now,
                last_optime=now,
                lag=cfg.lag_seconds,
                oplog_hours=cfg.oplog_hours,
            )
            for i, port in enumerate(self.ports)
        ]
        self.members[0].state = State.PRIMARY
        self.term = 1
        self.elected_at = now
        self.fcv = cfg.fcv or series_of(cfg.version)
        self.saved_fcv: str | None = None
        self.frozen_head: float | None = None  # head optime while there is no primary
        self.election_at: float | None = None
        self.collections: dict[tuple[str, str], list[dict]] = {}

    # --- lookups ------------------------------------------------------------------------------------------

    def member(self, key: str | int) -> Member:
        """A member by index, port or ``host:port``."""
        text = str(key)
        for m in self.members:
            if text in (str(m.port), m.name, f"localhost:{m.port}") or (
                isinstance(key, int) and key == m.index
            ):
                return m
        raise SimError(93, "InvalidReplicaSetConfig", f"no member {text} in set {self.config.set_name}")

    def primary(self) -> Member | None:
        return next((m for m in self.members if m.running and m.state is State.PRIMARY), None)

    def head(self, now: float) -> float:
        return now if self.primary() else (self.frozen_head or now)

    def optime(self, m: Member, now: float) -> float:
        """Applied optime of ``m`` (wall seconds) at ``now``."""
        if not m.running or m.state in (State.STARTUP2, State.RECOVERING, State.ROLLBACK) or m.stuck:
            return m.last_optime
        if m.state is State.PRIMARY:
            return self.head(now)
        target = min(now - m.lag, self.head(now))
        span = self.config.catchup_seconds
        if span > 0 and now < m.catchup_start + span:
            frac = (now - m.catchup_start) / span
            target = m.last_optime + (target - m.last_optime) * frac
        return max(target, m.last_optime)

    def lag_of(self, m: Member, now: float) -> float:
        return max(0.0, self.head(now) - self.optime(m, now))

    def electable(self, now: float) -> list[Member]:
        return [
            m for m in self.members
            if m.running and m.state is State.SECONDARY and m.priority > 0 and m.frozen_until <= now
        ]  # fmt: skip

    def has_majority(self) -> bool:
        return sum(m.running for m in self.members) * 2 > len(self.members)

    # --- time -----------------------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> float:
        """Apply every transition due at ``now`` (default: the clock); return ``now``."""
        now = self.clock() if now is None else now
        for m in self.members:
            if (
                m.running
                and m.state is State.STARTUP2
                and not m.initial_sync
                and m.ready_at is not None
                and now >= m.ready_at
            ):
                m.state, m.ready_at, m.catchup_start = State.SECONDARY, None, now
        if self.primary():
            self.election_at = None
            return now
        if self.election_at is None:
            if self.electable(now) and self.has_majority():
                self.election_at = now + self.config.failover_seconds
        elif now >= self.election_at:
            self.election_at = None
            candidates = self.electable(now) if self.has_majority() else []
            if candidates:
                best = max(candidates, key=lambda c: (self.optime(c, now), c.priority, -c.index))
                self._elect(best, now)
        return now

    def _elect(self, m: Member, now: float) -> None:
        m.state = State.PRIMARY
        self.term += 1
        self.elected_at = now
        self.frozen_head = None

    def _lose_primary(self, now: float, delay: float) -> None:
        self.frozen_head = now
        self.election_at = now + delay

    # --- operations (callers hold ``lock``) ----------------------------------------------------------------

    def step_down(
        self,
        m: Member,
        now: float,
        step_down_secs: float = 60,
        catch_up_secs: float = 10,
        force: bool = False,
    ) -> None:
        if m.state is not State.PRIMARY:
            raise SimError(10107, "NotWritablePrimary", "not primary so can't step down")
        if catch_up_secs > step_down_secs:
            raise SimError(2, "BadValue", "stepdown period must be longer than secondaryCatchUpPeriodSecs")
        caught_up = [c for c in self.electable(now) if not c.stuck and self.lag_of(c, now) <= catch_up_secs]
        if not caught_up and not force:
            when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            raise SimError(
                262, "ExceededTimeLimit",
                f"No electable secondaries caught up as of {when}. Please use the replSetStepDown command with "
                "the argument {force: true} to force node to step down.",
            )  # fmt: skip
        wait = min(self.lag_of(c, now) for c in caught_up) if caught_up else 0.0
        m.state = State.SECONDARY
        m.frozen_until = now + step_down_secs
        m.last_optime = m.catchup_start = now
        self._lose_primary(now, max(self.config.election_seconds, wait))

    def freeze(self, m: Member, now: float, seconds: float) -> None:
        if m.state is State.PRIMARY:
            raise SimError(95, "NotSecondary", "cannot freeze node when primary or running for election")
        m.frozen_until = now + seconds if seconds > 0 else 0.0

    def stop(self, m: Member, now: float) -> str:
        """Clean shutdown (SIGTERM): a primary hands over first when a caught-up secondary exists."""
        if not m.running:
            return f"{m.name} is already stopped"
        m.last_optime = self.optime(m, now)
        was_primary = m.state is State.PRIMARY
        handed_over = False
        if was_primary:
            try:  # mongod waits up to 15 s (shutdownTimeoutMillisForSignaledShutdown) for a secondary
                self.step_down(m, now, step_down_secs=15, catch_up_secs=15)
                handed_over = True
            except SimError:
                self._lose_primary(now, self.config.failover_seconds)
        m.running, m.state, m.ready_at = False, State.DOWN, None
        if was_primary and not handed_over:
            return f"{m.name} stopped (was primary; no caught-up secondary, election after timeout)"
        return f"{m.name} stopped" + (" (was primary; stepped down first)" if was_primary else "")

    def start(self, m: Member, now: float) -> str:
        if m.running:
            return f"{m.name} is already running"
        if self.fcv not in allowed_fcvs(m.version):
            raise SimError(
                62, "UnsupportedFormat",
                f"mongod {m.version} exited: featureCompatibilityVersion {self.fcv} is not supported by this "
                f"binary (it runs with {' or '.join(allowed_fcvs(m.version))})",
            )  # fmt: skip
        if m.crash_unless and m.version != m.crash_unless:
            raise SimError(
                14, "SimulatedCrash",
                f"mongod {m.version} on {m.name} exited with code 14 during startup (simulated bad build)",
            )  # fmt: skip
        m.running, m.started_at = True, now
        m.state = State.STARTUP2
        m.ready_at = now + self.config.startup_seconds
        return f"{m.name} started (mongod {m.version})"

    def install(self, m: Member, version: str, repository: list[str]) -> str:
        if m.running:
            raise SimError(
                20, "IllegalOperation",
                f"refusing to replace mongod {m.version} on {m.name} while it is running: stop it first",
            )  # fmt: skip
        if version not in repository:
            raise SimError(2, "BadValue", f"E: Version '{version}' for 'mongodb-org-server' was not found")
        previous, m.version = m.version, version
        return f"{m.name}: mongod {previous} → {version} installed"

    def set_fcv(self, m: Member, target: str, confirm: bool) -> None:
        if m.state is not State.PRIMARY:
            raise SimError(10107, "NotWritablePrimary", "not primary")
        if target not in allowed_fcvs(m.version):
            raise SimError(
                2, "BadValue",
                f"Invalid feature compatibility version value '{target}'; expected one of "
                f"{', '.join(allowed_fcvs(m.version))}. See https://docs.mongodb.com/.",
            )  # fmt: skip
        if target == self.fcv:
            return
        if series_key(series_of(m.version)) >= (7, 0) and not confirm:
            raise SimError(
                7369100, "Location7369100",
                "Once you have upgraded to 7.0, you will not be able to downgrade FCV and binary version without "
                "support assistance. Please re-run this command with 'confirm: true' to acknowledge this and "
                "continue with the FCV upgrade.",
            )  # fmt: skip
        old = [o for o in self.members if target not in allowed_fcvs(o.version)]
        if old:
            raise SimError(
                20, "IllegalOperation",
                f"cannot set featureCompatibilityVersion to {target}: {old[0].name} runs mongod {old[0].version}",
            )  # fmt: skip
        self.fcv = target

    # --- faults (operator-injected through ``ctl fault``) ---------------------------------------------------

    def fault(self, name: str, m: Member | None, now: float, value: float | None) -> str:
        """Inject a fault; ``clear`` undoes member faults (or all faults when no member is named)."""
        if name == "no-electable":
            for o in self.members:
                if o.state is not State.PRIMARY and o.saved_priority is None:
                    o.saved_priority, o.priority = o.priority, 0.0
            return "every secondary now has priority 0 (not electable)"
        if name == "fcv-mismatch":
            lower = allowed_fcvs(self.members[0].version)[0]
            self.saved_fcv = self.saved_fcv or self.fcv
            self.fcv = lower
            return f"featureCompatibilityVersion set to {lower}"
        if name == "clear" and m is None:
            for o in self.members:
                self._clear(o, now)
            if self.saved_fcv:
                self.fcv, self.saved_fcv = self.saved_fcv, None
            return "all faults cleared"
        if m is None:
            raise SimError(2, "BadValue", f"fault {name} needs a member")
        if name == "clear":
            self._clear(m, now)
            return f"{m.name}: faults cleared"
        if name in ("lag", "oplog-window"):
            if value is None or value < 0:
                raise SimError(
                    2, "BadValue", f"fault {name} needs --value (seconds for lag, hours for oplog-window)"
                )
            if name == "lag":  # takes effect at once, as if the member had stalled ``value`` seconds ago
                m.lag, m.last_optime = value, min(m.last_optime, now - value)
            else:
                m.oplog_hours = value
            return f"{m.name}: {name} set to {value:g}"
        if name == "crash-on-start":
            m.crash_unless = m.version
            return f"{m.name}: a start under any version but {m.version} crashes"
        if m.state is State.PRIMARY:
            raise SimError(2, "BadValue", f"{m.name} is primary: step it down before injecting {name}")
        if not m.running and name != "never-catches-up":
            raise SimError(2, "BadValue", f"{m.name} is stopped: start it before injecting {name}")
        m.last_optime = self.optime(m, now) if m.running else m.last_optime
        if name == "recovering":
            m.forced = m.state = State.RECOVERING
        elif name == "rollback":
            m.forced = m.state = State.ROLLBACK
        elif name == "initial-sync":
            m.initial_sync, m.state, m.last_optime = True, State.STARTUP2, 0.0
        elif name == "never-catches-up":
            m.stuck = True
        else:
            raise SimError(2, "BadValue", f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        return f"{m.name}: {name}"

    def _clear(self, m: Member, now: float) -> None:
        if m.saved_priority is not None:
            m.priority, m.saved_priority = m.saved_priority, None
        m.lag, m.oplog_hours = self.config.lag_seconds, self.config.oplog_hours
        m.crash_unless = None
        if m.stuck or m.forced or m.initial_sync:
            m.last_optime = self.optime(m, now)
            m.stuck, m.forced, m.initial_sync = False, None, False
            if m.running and m.state is not State.PRIMARY:
                m.state, m.catchup_start = State.SECONDARY, now


FAULTS = ("recovering", "rollback", "lag", "initial-sync", "never-catches-up", "oplog-window", "no-electable",
          "fcv-mismatch", "crash-on-start", "clear")  # fmt: skip


def series_key(series: str) -> tuple[int, int]:
    major, minor = series.split(".")[:2]
    return int(major), int(minor)
