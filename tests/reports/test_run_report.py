"""The run report's frames: simulated clusters say so everywhere, counts stay whole numbers."""

from __future__ import annotations

from reports.run import checks_frame, clusters_frame, nodes_frame, steps_frame
from tasks.patching import CheckResult, ClusterRun, Outcome, Step, StepRecord, StepStatus, Strategy, now


def runs() -> list[ClusterRun]:
    real = ClusterRun("pg", "postgresql", Strategy.ROLLING, "15.20", Outcome.PATCHED, before={"pg-1": "15.18"},
                      probe={"probe_failed_writes": 7, "probe_lost_writes": 0, "probe_writes_acked": 50,
                             "probe_max_write_gap_s": 0.2})  # fmt: skip
    sim = ClusterRun("mongo", "mongodb", Strategy.ROLLING, "7.0.40", Outcome.PATCHED, before={"m-1": "7.0.12"},
                     simulated=True)  # fmt: skip
    t = now()
    sim.steps.append(StepRecord(Step("m-1", "stop", "stop"), StepStatus.OK, t, t))
    sim.checks.append(CheckResult("fcv", "m-1", True, "7.0", "7.0", "fcv 7.0", "post"))
    return [real, sim]


def test_simulated_clusters_are_named_so_in_every_table():
    r = runs()
    for frame in (clusters_frame(r), nodes_frame(r)):
        assert list(frame["cluster"]) == ["pg", "mongo (simulated)"]
    assert list(steps_frame(r)["cluster"]) == ["mongo (simulated)"]
    assert list(checks_frame(r)["cluster"]) == ["mongo (simulated)"]


def test_probe_counts_are_whole_numbers():
    df = clusters_frame(runs())
    assert str(df["probe_failed_writes"].dtype) == "Int64" and df["probe_failed_writes"].iloc[0] == 7
    assert df.to_csv(index=False).splitlines()[1].count(",7,") == 1
