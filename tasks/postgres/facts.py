"""PostgreSQL facts: SQL plus a parser returning plain data, no side effects (pyinfra's facts)."""

from __future__ import annotations

import re

from dbpatch.models import Target
from tasks.facts import NodeFacts, Peer, Role
from tasks.postgres.driver import Credentials, connect, query, query_one

SERVER = """
select current_setting('server_version') as version_full,
       pg_is_in_recovery() as in_recovery,
       extract(epoch from now() - pg_postmaster_start_time())::float8 as uptime,
       (select count(*) from pg_settings where pending_restart) as pending,
       current_setting('data_directory') as data_directory,
       (select system_identifier from pg_control_system())::text as system_identifier,
       current_setting('cluster_name') as cluster_name,
       coalesce((select max(extract(epoch from now() - xact_start))::float8 from pg_stat_activity
                  where xact_start is not null and pid <> pg_backend_pid() and backend_type = 'client backend'), 0)
         as longest_xact,
       (select count(*) from pg_prepared_xacts) as prepared
"""

STANDBYS = """
select application_name, client_addr::text as client_addr, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint as lag_bytes,
       coalesce(extract(epoch from replay_lag)::float8, 0) as lag_seconds
  from pg_stat_replication order by application_name
"""

RECEIVER = """
select r.status, r.sender_host, r.sender_port,
       pg_last_wal_receive_lsn()::text as receive_lsn, pg_last_wal_replay_lsn()::text as replay_lsn,
       coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint as replay_gap_bytes,
       case when pg_last_wal_receive_lsn() is not distinct from pg_last_wal_replay_lsn() then 0
            else extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 end as replay_lag_seconds,
       pg_is_wal_replay_paused() as replay_paused
  from (select 1) one left join pg_stat_wal_receiver r on true
"""

_VERSION = re.compile(r"^(\d+(?:\.\d+)+|\d+)")


def short_version(version_full: str) -> str:
    """'15.18 (Debian 15.18-0+deb12u1)' → '15.18'; '16.2' → '16.2'."""
    m = _VERSION.match(version_full.strip())
    return m.group(1) if m else version_full.strip()


def major_of(version: str) -> str:
    """PostgreSQL majors are the first number from 10 on ('15.18' → '15'), the first two before ('9.6.24' → '9.6')."""
    parts = version.split(".")
    return parts[0] if int(parts[0]) >= 10 else ".".join(parts[:2])


def read_facts(target: Target, creds: Credentials) -> NodeFacts:
    """Connect once and read every fact the scan and the checks need."""
    with connect(target, creds) as conn:
        server = query_one(conn, SERVER)
        extensions = {
            r["extname"]: r["extversion"]
            for r in query(conn, "select extname, extversion from pg_extension order by 1")
        }
        facts = NodeFacts(
            target=target.name,
            engine=target.engine,
            cluster=target.cluster_name,
            environment=target.environment,
            reachable=True,
            version=short_version(server["version_full"]),
            version_full=server["version_full"],
            pending_restart=server["pending"] > 0,
            uptime_seconds=round(server["uptime"], 1),
            extensions=extensions,
            longest_transaction_seconds=round(server["longest_xact"], 3),
            prepared_transactions=server["prepared"],
            extra={
                "system_identifier": server["system_identifier"],
                "data_directory": server["data_directory"],
                "cluster_name": server["cluster_name"],
            },
        )
        if server["in_recovery"]:
            rec = query_one(conn, RECEIVER)
            facts.role = Role.STANDBY
            facts.streaming = rec.get("status") == "streaming"
            facts.upstream = f"{rec['sender_host']}:{rec['sender_port']}" if rec.get("sender_host") else None
            facts.lag_seconds = round(rec["replay_lag_seconds"] or 0.0, 3)
            facts.extra.update(
                receive_lsn=rec["receive_lsn"],
                replay_lsn=rec["replay_lsn"],
                replay_gap_bytes=rec["replay_gap_bytes"],
                replay_paused=rec["replay_paused"],
            )
        else:
            facts.role = Role.PRIMARY
            facts.peers = [
                Peer(
                    r["application_name"] or r["client_addr"],
                    r["state"],
                    r["lag_bytes"],
                    round(r["lag_seconds"], 3),
                )
                for r in query(conn, STANDBYS)
            ]
        return facts


def attach_primary_view(cluster: list[NodeFacts]) -> None:
    """A standby's lag in bytes is only known to its primary: copy it from the primary's peer list."""
    primaries = [f for f in cluster if f.role is Role.PRIMARY]
    for standby in (f for f in cluster if f.role is Role.STANDBY):
        for primary in primaries:
            peer = next(
                (p for p in primary.peers if p.name in (standby.target, standby.extra.get("cluster_name"))),
                None,
            )
            if peer:
                standby.lag_bytes = peer.lag_bytes
                standby.lag_seconds = max(standby.lag_seconds or 0.0, peer.lag_seconds or 0.0)
                standby.upstream = primary.target
