"""May this cluster start now? Its environment's maintenance window, the blackouts, and an estimate of how long
it takes (from earlier runs of the same cluster, kept in ``<home>/state/history.json``)."""

from __future__ import annotations

import datetime as dt
import json

from dbpatch import paths
from dbpatch.models import Policy, Target
from tasks.schedule.calendar import next_open, window_for, window_instances
from tasks.schedule.gate import Decision, Verdict, estimate_duration, may_start


def _history_file():
    return paths.home() / "state" / "history.json"


def history(cluster: str) -> list[float]:
    path = _history_file()
    return json.loads(path.read_text()).get(cluster, []) if path.exists() else []


def record_duration(cluster: str, seconds: float) -> None:
    """Remember how long a cluster took (the last 20 runs) for future estimates."""
    path = _history_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[cluster] = [*data.get(cluster, []), round(seconds, 1)][-20:]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def next_window_start(policy: Policy, targets: list[Target], now: dt.datetime) -> dt.datetime | None:
    """When the earliest window of these targets next opens (not skipped by a blackout), after ``now``."""
    starts = []
    for t in targets:
        window = window_for(policy, t.environment, t.group)
        if window is None:
            continue
        upcoming = next_open(window_instances(window, policy.blackouts, now, 3), now)
        if upcoming is not None:
            starts.append(upcoming.start)
    return min(starts) if starts else None


def window_decision(policy: Policy, cluster: str, targets: list[Target], now: dt.datetime) -> Decision:
    """The verdict for starting ``cluster`` at ``now``. A policy without windows places no restriction."""
    if not policy.windows:
        return Decision(Verdict.START, "start: the policy defines no maintenance windows")
    first = targets[0]
    window = window_for(policy, first.environment, first.group)
    if window is None:
        return Decision(
            Verdict.BEFORE_WINDOW, f"deferred: no maintenance window covers environment {first.environment}"
        )
    instances = window_instances(window, policy.blackouts, now - dt.timedelta(hours=window.duration_hours), 3)
    current = next((i for i in instances if i.contains(now)), None)
    upcoming = next_open([i for i in instances if i is not current], now)
    if current is None:
        if upcoming is None:
            return Decision(
                Verdict.BEFORE_WINDOW, f"deferred: window {window.name} has no open instance soon"
            )
        return may_start(upcoming, now, dt.timedelta(0))
    estimate = estimate_duration(len(targets), history(cluster) or None)
    return may_start(current, now, estimate, upcoming)
