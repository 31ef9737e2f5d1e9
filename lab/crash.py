"""Crash trials: kill a real ``dbpatch patch`` process at a step boundary (or after a random delay), run the same
command again, and check the cluster as a DBA would: exactly one writable primary, every other node streaming
from it, every node at the target, and no acknowledged write lost. Used by the crash tests and ``bench/crash.py``.

The kill is a real SIGKILL: ``DBPATCH_FAULT=kill-at:K`` makes the procedure SIGKILL its own process right after
it journaled the intent of step K (K = steps + 1: after the last step, before the post-checks); a random-delay
trial sends SIGKILL from outside.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tasks.postgres.driver import Credentials
from tasks.postgres.probe import WriteProbe

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Trial:
    label: str
    killed_rc: int | None
    rerun_rc: int
    rerun_out: str
    primaries: list[str]
    streaming: dict[str, bool]
    versions: dict[str, str]
    lost_writes: int
    acked: int
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def command(inventory: Path, policy: Path, cluster: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", "patch", "--inventory", str(inventory), "--policy", str(policy),
            "--targets", cluster]  # fmt: skip


def _node_state(
    host: str, port: int, creds: Credentials
) -> tuple[bool | None, str | None, list[tuple[str, str]]]:
    """(in recovery, version, [(standby, state)]) — None when the node does not answer."""
    try:
        with psycopg.connect(**creds.conninfo(host, port, connect_timeout=3), autocommit=True) as conn:
            in_recovery, version = conn.execute(
                "select pg_is_in_recovery(), current_setting('server_version')"
            ).fetchone()  # type: ignore[misc]
            rows = conn.execute("select application_name, state from pg_stat_replication").fetchall()
            return bool(in_recovery), str(version).split()[0], [(str(a), str(s)) for a, s in rows]
    except psycopg.Error:
        return None, None, []


def trial(
    label: str,
    argv: list[str],
    nodes: dict[str, tuple[str, int]],
    creds: Credentials,
    probe_targets: list,
    target_version: str,
    *,
    env: dict[str, str],
    kill_at: int | None = None,
    kill_after: float | None = None,
    between: Callable[[], None] | None = None,
    timeout: float = 300,
    rerun: Callable[[list[str]], subprocess.CompletedProcess] | None = None,
) -> Trial:
    """Run ``argv`` with a kill, optionally let a third party act (``between``), run it again, and check."""
    probe = WriteProbe(probe_targets, creds)
    probe.start()
    try:
        killed_rc, again = kill_and_rerun(argv, env, kill_at=kill_at, kill_after=kill_after, between=between,
                                          timeout=timeout, rerun=rerun)  # fmt: skip
    finally:
        probe_result = probe.stop()
    return check(label, killed_rc, again, nodes, creds, target_version, probe_result)


def kill_and_rerun(
    argv: list[str],
    env: dict[str, str],
    *,
    kill_at: int | None = None,
    kill_after: float | None = None,
    between: Callable[[], None] | None = None,
    timeout: float = 300,
    rerun: Callable[[list[str]], subprocess.CompletedProcess] | None = None,
    kill_when: Callable[[], bool] | None = None,
) -> tuple[int | None, subprocess.CompletedProcess]:
    """Run ``argv`` killed at step ``kill_at``, or ``kill_after`` seconds after it started (after ``kill_when``
    first returned true, when given), then run it again: as a new process, or through ``rerun`` (the tests run
    the same command in their own process, which saves a start)."""
    first_env = {**env, **({"DBPATCH_FAULT": f"kill-at:{kill_at}"} if kill_at is not None else {})}
    proc = subprocess.Popen(argv, env=first_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
    if kill_when is not None:
        deadline = time.monotonic() + timeout
        while not kill_when() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    if between is not None:
        between()
    if rerun is not None:
        return proc.returncode, rerun(argv)
    again = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)  # noqa: S603
    return proc.returncode, again


def check(label, killed_rc, rerun, nodes, creds, target_version, probe_result) -> Trial:
    states = {name: _node_state(host, port, creds) for name, (host, port) in nodes.items()}
    primaries = [n for n, (rec, _, _) in states.items() if rec is False]
    streaming: dict[str, bool] = {}
    for name, (rec, _, _) in states.items():
        if rec:
            streaming[name] = any(
                app == name and st == "streaming" for p in primaries for app, st in states[p][2]
            )
    versions = {n: v or "down" for n, (_, v, _) in states.items()}
    t = Trial(label, killed_rc, rerun.returncode, output_tail(rerun.stdout + rerun.stderr), primaries, streaming,
              versions, probe_result["probe_lost_writes"], probe_result["probe_writes_acked"])  # fmt: skip
    if len(primaries) != 1:
        t.problems.append(f"{len(primaries)} writable primaries ({', '.join(primaries) or 'none'})")
    t.problems += [f"{n} not streaming from the primary" for n, ok in streaming.items() if not ok]
    t.problems += [f"{n} runs {v}, not {target_version}" for n, v in versions.items() if v != target_version]
    if t.lost_writes:
        t.problems.append(f"{t.lost_writes} acknowledged writes lost")
    if rerun.returncode != 0:
        t.problems.append(f"rerun exited {rerun.returncode}")
    return t


def output_tail(text: str, lines: int = 40) -> str:
    """The last lines of a run's output that say something (library warnings left out)."""
    noise = ("Warning", "PydanticSerialization", "function=lambda", "return self.__pydantic", "warnings.warn")
    kept = [line for line in text.splitlines() if line.strip() and not any(n in line for n in noise)]
    return "\n".join(kept[-lines:])


def env_for(api_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DBPATCH_FAULT", None)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["PREFECT_LOGGING_LEVEL"] = "INFO"  # the step lines, as an operator sees them
    env["DBPATCH_ASSUME_YES"] = "1"  # a trial is a pipeline: no confirmation prompt for prod
    env["DBPATCH_IGNORE_WINDOWS"] = "1"  # and no maintenance window to wait for
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env
