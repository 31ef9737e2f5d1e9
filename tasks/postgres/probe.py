"""Write probe: measures what clients see during a patch.

A thread writes one row every 10 ms through a multi-host connection (``target_session_attrs=read-write``, as an
application would), reconnecting after every failure. Afterwards it reports the longest gap between two
acknowledged writes, how many writes failed, and verifies every acknowledged row is on the final primary
(lost writes must be 0).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from dbpatch.models import Target
from tasks.postgres.driver import Connection, Credentials, Error, connect_raw

TABLE = "dbpatch_probe"


@dataclass
class ProbeResult:
    acknowledged: int
    failed_writes: int
    max_write_gap_s: float
    lost_writes: int
    duration_s: float

    def record(self) -> dict[str, Any]:
        return {
            "probe_writes_acked": self.acknowledged,
            "probe_failed_writes": self.failed_writes,
            "probe_max_write_gap_s": round(self.max_write_gap_s, 3),
            "probe_lost_writes": self.lost_writes,
            "probe_duration_s": round(self.duration_s, 1),
        }


@dataclass
class WriteProbe:
    targets: list[Target]
    creds: Credentials
    interval: float = 0.01
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._acked: list[tuple[int, float]] = []
        self._failed = 0
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def _connect(self) -> Connection:
        info = self.creds.conninfo(
            ",".join(t.host for t in self.targets),
            0,
            target_session_attrs="read-write",
            connect_timeout=2,
            application_name="dbpatch-probe",
        )
        info["port"] = ",".join(str(t.port) for t in self.targets)
        return connect_raw(**info)

    def start(self) -> None:
        with self._connect() as conn:
            conn.execute(
                f"create table if not exists {TABLE} (run text, id bigint, at timestamptz default clock_timestamp(), primary key (run, id))"
            )
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="dbpatch-write-probe", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        conn: Connection | None = None
        seq = 0
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self._connect()
                seq += 1
                conn.execute(f"insert into {TABLE} (run, id) values (%s, %s)", (self.run_id, seq))
                self._acked.append((seq, time.monotonic()))
            except Error:
                self._failed += 1
                if conn is not None:
                    conn.close()
                    conn = None
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        ended = time.monotonic()
        times = [self._started] + [t for _, t in self._acked] + [ended]
        gap = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
        with self._connect() as conn:
            present = {r[0] for r in conn.execute(f"select id from {TABLE} where run = %s", (self.run_id,))}
            conn.execute(f"delete from {TABLE} where run = %s", (self.run_id,))
        lost = sum(1 for seq, _ in self._acked if seq not in present)
        return ProbeResult(len(self._acked), self._failed, gap, lost, ended - self._started).record()
