"""Benchmark: the write outage clients see while dbpatch patches a primary + standby cluster, against the bare
hand sequence a DBA would type (restart the standby on the new build, fast-stop the primary, promote, rejoin).

Both are measured with the same ``WriteProbe`` (one insert every 10 ms through a multi-host, read-write
connection) on two identical 15.18 clusters of a throw-away lab. Prints figures; always exits 0.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import io
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

FROM, TO = "15.18", "15.20"
# probe figure → (column header, format)
COLUMNS = {
    "probe_max_write_gap_s": ("max gap s", ".3f"),
    "probe_failed_writes": ("failed", "g"),
    "probe_lost_writes": ("lost", "g"),
    "probe_writes_acked": ("acked", "g"),
    "probe_duration_s": ("probe s", ".1f"),
    "wall_s": ("wall s", ".1f"),
}
TARGET_GAP_S, TARGET_RATIO = 0.5, 1.3


def free_base_port(span: int = 10) -> int:
    """First port of ``span`` consecutive free loopback ports (away from the test lab's 55400+ range)."""
    for base in range(56400, 60000, span):
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + span):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError("no free port range for the benchmark lab")


def make_lab(root: Path):
    from lab.lab import LAB_POLICY, Lab, NodeSpec

    topology = tuple(
        spec
        for i, c in enumerate(("bench-a", "bench-b"))
        for spec in (
            NodeSpec(f"{c}-1", 2 * i, FROM, "prod", cluster=c),
            NodeSpec(f"{c}-2", 2 * i + 1, FROM, "prod", cluster=c, upstream=f"{c}-1"),
        )
    )
    policy = copy.deepcopy(LAB_POLICY)
    policy["baselines"] = {"postgresql": {"15": {"approved": [TO]}}}
    return Lab(root, free_base_port(), topology=topology, policy=policy)


def run_dbpatch(lab) -> tuple[dict, str]:
    """(a) patch_wave on bench-a; returns the probe figures and a one-line switchover breakdown."""
    from flows.patch_wave import WaveParameters, patch_wave

    t0 = time.monotonic()
    result = patch_wave(
        WaveParameters(
            inventory_path=str(lab.inventory_path),
            policy_path=str(lab.policy_path),
            targets=["bench-a"],
            write_probe=True,
            wave="bench",
        )
    )
    wall = time.monotonic() - t0
    run = result.runs[0]
    if run.outcome.value != "patched":
        print(f"  dbpatch: {run.outcome.value}: {run.sentence}")
        for rec in run.steps:
            print(f"    {rec.record()}")
    switchover, inside = [], False
    for rec in (
        run.steps
    ):  # checkpoint → drain → stop → verify-replayed → promote on the old primary / the candidate
        inside = inside or rec.step.action == "checkpoint"
        if inside:
            switchover.append(f"{rec.step.action} {rec.seconds:.2f}")
        if rec.step.action == "promote":
            break
    return {**(run.probe or {}), "wall_s": round(wall, 1)}, ", ".join(switchover)


def wait_streaming(primary, standby_name: str, creds, timeout: float = 60) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(**creds.conninfo("127.0.0.1", primary.port), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "select 1 from pg_stat_replication where application_name = %s and state = 'streaming'",
                (standby_name,),
            ).fetchone()
            if row:
                return
            time.sleep(0.1)
    raise RuntimeError(f"{standby_name} is not streaming after {timeout:g}s")


def run_by_hand(lab, creds) -> tuple[dict, str]:
    """(b) the bare sequence on bench-b, no checks, under the same probe."""
    import psycopg

    from dbpatch.models import load_inventory
    from tasks.postgres.probe import WriteProbe

    primary, standby = lab.node("bench-b-1"), lab.node("bench-b-2")
    probe = WriteProbe(load_inventory(lab.inventory_path).select(["bench-b"]).targets, creds)
    t0 = time.monotonic()
    probe.start()
    try:
        standby.stop("fast")
        standby.install(TO)
        standby.start()
        wait_streaming(primary, standby.name, creds)
        t_stop = time.monotonic()
        primary.stop("fast")
        t_promote = time.monotonic()
        with psycopg.connect(**creds.conninfo("127.0.0.1", standby.port), autocommit=True) as conn:
            conn.execute("select pg_promote()")
        t_done = time.monotonic()
        primary.install(TO)
        primary.follow(standby, lab.passfile)
        primary.start()
    finally:
        figures = probe.stop()
    breakdown = f"stop {t_promote - t_stop:.2f}, promote {t_done - t_promote:.2f}"
    return {**figures, "wall_s": round(time.monotonic() - t0, 1)}, breakdown


def one_run(i: int, root: Path) -> dict[str, dict]:
    from tasks.postgres.driver import Credentials

    lab = make_lab(root / f"lab-{i}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # lab.up() narrates every node
            lab.up()
        lab.save_blocks()
        creds = Credentials("postgres", lab.password(), "disable")
        a, a_steps = run_dbpatch(lab)
        b, b_steps = run_by_hand(lab, creds)
        print(f"run {i}: dbpatch switchover [{a_steps}] s; hand [{b_steps}] s", flush=True)
        return {"dbpatch": a, "hand": b}
    finally:
        with contextlib.redirect_stdout(io.StringIO()):
            lab.down(destroy=True)


def row(label: str, figures: dict) -> str:
    return f"{label:<18}" + "".join(
        f"{figures.get(f, float('nan')):>10{fmt}}" for f, (_, fmt) in COLUMNS.items()
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(results: list[dict[str, dict]]) -> None:
    print(f"\n{'':<18}" + "".join(f"{h:>10}" for h, _ in COLUMNS.values()))
    for i, r in enumerate(results, 1):
        for who in ("dbpatch", "hand"):
            print(row(f"run {i} {who}", r[who]))
    med = {
        who: {f: round(statistics.median(r[who].get(f, float("nan")) for r in results), 3) for f in COLUMNS}
        for who in ("dbpatch", "hand")
    }
    if len(results) > 1:
        for who in ("dbpatch", "hand"):
            print(row(f"median {who}", med[who]))
    gap, hand_gap = med["dbpatch"]["probe_max_write_gap_s"], med["hand"]["probe_max_write_gap_s"]
    ratio = gap / hand_gap if hand_gap else float("inf")
    worst = max(r["dbpatch"].get("probe_max_write_gap_s", float("inf")) for r in results)
    # a run without probe figures (the flow failed before the probe stopped) counts as lost writes
    lost = sum(r["dbpatch"].get("probe_lost_writes", 1) for r in results)
    print(f"\nratio dbpatch gap / hand gap (medians): {ratio:.2f}")
    print(
        f"target max write gap ≤ {TARGET_GAP_S} s (median): {verdict(gap <= TARGET_GAP_S)} "
        f"({gap:.3f} s; worst run {worst:.3f} s)"
    )
    print(f"target ratio ≤ {TARGET_RATIO}: {verdict(ratio <= TARGET_RATIO)} ({ratio:.2f})")
    print(f"target lost writes = 0 (all runs): {verdict(lost == 0)} ({lost})")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Write outage of a dbpatch switchover vs. the bare hand sequence."
    )
    parser.add_argument(
        "--runs", type=int, default=3, metavar="N", help="repetitions, each on a fresh lab (default 3)"
    )
    args = parser.parse_args()
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be between 1 and 20")

    root = Path(tempfile.mkdtemp(prefix="dbpatch-bench-", dir="/var/tmp"))
    root.chmod(0o755)  # the unprivileged server user must be able to enter it
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["DBPATCH_HOME"] = str(root)
    os.environ["DBPATCH_REPORTS"] = str(root / "reports")
    from prefect.testing.utilities import prefect_test_harness

    print(
        f"dbpatch switchover benchmark — {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"{platform.machine()}, nproc {len(os.sched_getaffinity(0))}, Python {platform.python_version()}, {FROM} → {TO}, {args.runs} run(s)",
        flush=True,
    )
    results: list[dict[str, dict]] = []
    crashed = 0
    try:
        with prefect_test_harness(server_startup_timeout=120):
            for i in range(1, args.runs + 1):
                try:
                    results.append(one_run(i, root))
                except Exception as exc:  # a crashed run is reported, the others still count
                    crashed += 1
                    print(f"run {i}: crashed: {type(exc).__name__}: {exc}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if results:
        report(results)
    return 1 if crashed else 0  # missed targets are figures, not errors: exit 0


if __name__ == "__main__":
    sys.exit(main())
