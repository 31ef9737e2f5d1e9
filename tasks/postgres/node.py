"""Live operations on one PostgreSQL node during a patch: SQL through the driver, host commands through the
node's transport and package source. Each method does one thing and says what it saw."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dbpatch.errors import PatchError, PatchFailed, TargetUnreachable
from dbpatch.models import Target
from tasks.facts import NodeFacts, Role
from tasks.host.packages import HostCommand, PackageSource
from tasks.host.transport import Transport
from tasks.postgres.driver import Credentials, connect, conninfo_to_dict, make_conninfo, query, query_one, sql
from tasks.postgres.facts import read_facts


@dataclass
class PgNode:
    target: Target
    creds: Credentials
    transport: Transport
    source: PackageSource
    facts: NodeFacts | None = None
    previous_version: str | None = None
    log: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.target.name

    def refresh(self) -> NodeFacts:
        self.facts = read_facts(self.target, self.creds)
        return self.facts

    def run(self, commands: list[HostCommand] | tuple[HostCommand, ...]) -> None:
        for cmd in commands:
            cmd.run(self.transport)

    # --- waiting ---------------------------------------------------------------------------------------

    def wait_ready(self, timeout: float, expect_version: str | None = None) -> NodeFacts:
        """Poll until the node accepts connections (and runs ``expect_version``)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                facts = self.refresh()
            except TargetUnreachable as exc:
                last = exc.reason
                time.sleep(0.2)
                continue
            if expect_version and facts.version != expect_version:
                raise PatchFailed(
                    f"{self.name}: runs {facts.version} after install, expected {expect_version}"
                )
            return facts
        raise PatchFailed(f"{self.name}: not accepting connections after {timeout:g}s ({last})")

    def wait_caught_up(self, primary: PgNode, max_lag_bytes: int, timeout: float) -> int:
        """Poll the primary until this standby streams with replay lag ≤ ``max_lag_bytes``; returns the lag."""
        deadline = time.monotonic() + timeout
        seen = "not connected to the primary"
        while time.monotonic() < deadline:
            try:
                with connect(primary.target, primary.creds) as conn:
                    row = query_one(
                        conn,
                        "select state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint as lag "
                        "from pg_stat_replication where application_name in (%s, %s)",
                        (
                            self.name,
                            (self.facts.extra.get("cluster_name") if self.facts else None) or self.name,
                        ),
                    )
            except TargetUnreachable as exc:
                row, seen = {}, f"primary unreachable: {exc.reason}"
            if row:
                seen = f"{row['state']}, {row['lag']} bytes behind"
                if row["state"] == "streaming" and row["lag"] is not None and row["lag"] <= max_lag_bytes:
                    return int(row["lag"])
            time.sleep(0.2)
        raise PatchFailed(f"{self.name}: did not catch up with {primary.name} within {timeout:g}s ({seen})")

    # --- switchover pieces -----------------------------------------------------------------------------

    def checkpoint(self) -> None:
        with connect(self.target, self.creds) as conn:
            conn.execute("checkpoint")

    def receive_lsn(self) -> str | None:
        with connect(self.target, self.creds) as conn:
            return query_one(conn, "select pg_last_wal_receive_lsn()::text as lsn")["lsn"]

    def lsn_at_least(self, lsn: str, than: str) -> bool:
        with connect(self.target, self.creds) as conn:
            return bool(query_one(conn, "select %s::pg_lsn >= %s::pg_lsn as ok", (lsn, than))["ok"])

    def promote(self, timeout: int = 60) -> None:
        with connect(self.target, self.creds) as conn:
            ok = query_one(conn, "select pg_promote(true, %s) as ok", (timeout,))["ok"]
        if not ok:
            raise PatchFailed(f"{self.name}: pg_promote did not finish within {timeout}s")

    def primary_conninfo(self) -> str:
        with connect(self.target, self.creds) as conn:
            return query_one(conn, "select current_setting('primary_conninfo') as ci")["ci"]

    def set_primary_conninfo(self, template: str, new_primary: Target) -> None:
        """Point this node's ``primary_conninfo`` at ``new_primary`` (ALTER SYSTEM; the value never reaches argv
        or a log, since it may hold a password). Takes effect at the next start, or on reload for a standby."""
        params = conninfo_to_dict(template) if template else {}
        params.update(host=new_primary.host, port=str(new_primary.port), application_name=self.name)
        value = make_conninfo("", **{k: str(v) for k, v in params.items() if v is not None})
        with connect(self.target, self.creds) as conn:
            conn.execute(sql.SQL("alter system set primary_conninfo = {}").format(sql.Literal(value)))
            conn.execute("select pg_reload_conf()")

    def last_checkpoint_of_stopped(self, bindir_tool: tuple[str, ...]) -> str:
        """Latest checkpoint location from ``pg_controldata`` of a cleanly stopped node."""
        out = self.transport.run(
            bindir_tool, as_user=getattr(self.source, "data_owner", None), timeout=30
        ).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        state = fields.get("Database cluster state", "").strip()
        if state != "shut down":
            raise PatchFailed(f"{self.name}: cluster state after stop is '{state}', not 'shut down'")
        return fields["Latest checkpoint location"].strip()

    def role(self) -> Role:
        return self.refresh().role

    # --- the fence and the handover gate ---------------------------------------------------------------

    @property
    def datadir(self) -> str:
        """The data directory: as the server reported it, else the inventory's (a stopped node has no facts)."""
        found = (self.facts.extra.get("data_directory") if self.facts else None) or self.target.data_directory
        if not found:
            raise PatchFailed(f"{self.name}: data directory unknown (inventory data_directory is not set)")
        return str(found)

    def _as_owner(self, argv: tuple[str, ...], description: str) -> HostCommand:
        return HostCommand(argv, description, getattr(self.source, "data_owner", None), timeout=30)

    def fence_command(self) -> HostCommand:
        """``standby.signal``: inert while the server runs, and any later start (package script, operator,
        reboot) brings it up as a standby of its ``primary_conninfo``."""
        return self._as_owner(("touch", f"{self.datadir}/standby.signal"), "fence: create standby.signal")

    def unfence_command(self) -> HostCommand:
        return self._as_owner(
            ("rm", "-f", f"{self.datadir}/standby.signal"), "remove the fence (standby.signal)"
        )

    def fenced(self) -> bool:
        return self.has_file("standby.signal")

    def has_file(self, name: str) -> bool:
        """``name`` exists in the data directory (read as the data owner: the directory is 0700)."""
        res = self.transport.run(
            ("test", "-e", f"{self.datadir}/{name}"),
            check=False,
            as_user=getattr(self.source, "data_owner", None),
            timeout=30,
        )
        return res.ok

    def replay_state(self) -> tuple[str | None, bool]:
        """(replay LSN, replay paused) of a standby."""
        with connect(self.target, self.creds) as conn:
            row = query_one(
                conn,
                "select pg_last_wal_replay_lsn()::text as lsn,"
                " case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end as paused",
            )
        return row.get("lsn"), bool(row.get("paused"))

    def end_of_wal(self) -> str:
        """Where this node's WAL ends: its replay LSN if it runs as a standby, its current LSN as a primary."""
        with connect(self.target, self.creds) as conn:
            return query_one(
                conn,
                "select (case when pg_is_in_recovery() then pg_last_wal_replay_lsn()"
                " else pg_current_wal_lsn() end)::text as lsn",
            )["lsn"]

    def open_write_transactions(self) -> list[int]:
        """Backends with a transaction that has written (holds an xid), other than our own."""
        with connect(self.target, self.creds) as conn:
            rows = query(
                conn,
                "select pid from pg_stat_activity where backend_xid is not null and pid <> pg_backend_pid()"
                " and backend_type = 'client backend' order by pid",
            )
        return [int(r["pid"]) for r in rows]

    def terminate(self, pids: list[int]) -> int:
        with connect(self.target, self.creds) as conn:
            rows = query(
                conn,
                "select count(*) filter (where pg_terminate_backend(p)) as n from unnest(%s::int[]) p",
                (pids,),
            )
        return int(rows[0]["n"]) if rows else 0


def free_bytes(node: PgNode, path: str) -> int:
    """Free space on the filesystem holding ``path`` (``df`` on the node's host, as the data owner: the data
    directory is 0700). A failed read raises ``PatchError("… df failed: …")``, never returns a made-up 0."""
    res = node.transport.run(
        ["df", "-B1", "--output=avail", path],
        as_user=getattr(node.source, "data_owner", None),
        timeout=30,
        check=False,
    )
    words = res.stdout.split()
    if res.ok and words and words[-1].isdigit():
        return int(words[-1])
    why = (res.stderr or res.stdout).strip().splitlines()[:1] or [f"exit {res.returncode}"]
    raise PatchError(f"{node.name}: df failed: {why[0]}")
