"""The state store: journal records read back as written (a torn last line ignored), and a lease that admits one
live run per cluster and recognises a dead one (a real process, SIGKILLed)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dbpatch.errors import ConfigError
from dbpatch.state import FileStateStore, JournalRecord, LeaseHeld

HOLD = """
import sys, time
from pathlib import Path
from dbpatch.state import FileStateStore
FileStateStore(Path(sys.argv[1])).acquire("pg-orders", "run-holder")
print("held", flush=True)
time.sleep(60)
"""


def _holder(root) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_journal_reads_back_the_last_run_and_what_it_was_doing(tmp_path):
    store = FileStateStore(tmp_path)
    store.append("pg-orders", JournalRecord("r1", "begin", data={"target_version": "15.20"}))
    store.append("pg-orders", JournalRecord("r1", "intent", node="pg-orders-1", action="stop"))
    last = store.interrupted("pg-orders")
    assert last is not None and last.run_id == "r1" and last.value("target_version") == "15.20"
    assert last.open_step() is not None and last.open_step().action == "stop"
    store.append("pg-orders", JournalRecord("r1", "result", node="pg-orders-1", action="stop", status="ok"))
    assert store.interrupted("pg-orders").open_step() is None
    store.append("pg-orders", JournalRecord("r1", "end", status="patched"))
    assert store.interrupted("pg-orders") is None


def test_a_torn_last_line_is_ignored_but_a_torn_middle_line_is_an_error(tmp_path):
    store = FileStateStore(tmp_path)
    store.append("c", JournalRecord("r1", "begin"))
    path = tmp_path / "journal" / "c.jsonl"
    with path.open("a") as f:
        f.write('{"run_id": "r1", "kind": "int')  # the write a SIGKILL interrupted
    assert [r.kind for r in store.records("c")] == ["begin"]
    with path.open("a") as f:
        f.write('\n{"run_id": "r1", "kind": "end"}\n')
    with pytest.raises(ConfigError, match=r"c.jsonl:2: malformed journal record"):
        store.records("c")


def test_cluster_names_never_become_paths(tmp_path):
    with pytest.raises(ConfigError, match="not a valid cluster name"):
        FileStateStore(tmp_path).records("../../etc/passwd")


def test_a_live_run_holds_the_cluster_and_a_dead_runs_lease_is_taken_over(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(LeaseHeld, match=r"another run holds the cluster: run run-holder \(pid \d+"):
            FileStateStore(tmp_path).acquire("pg-orders", "run-2")
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    replaced = FileStateStore(tmp_path).acquire("pg-orders", "run-2")
    assert replaced is not None and replaced.run_id == "run-holder"
    FileStateStore(tmp_path).release("pg-orders", "run-2")
    assert FileStateStore(tmp_path).acquire("pg-orders", "run-3") is None
