"""Whether a cluster may start now, how long it will take, and when a wave has failed too often.

Pure functions, like the calendar: the caller passes ``now``. A cluster is never started after the
window's cutoff, nor when ``now + estimate`` would run past the window's end.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from enum import StrEnum

from tasks.schedule.calendar import WindowInstance, clock, human_duration, local_time

UTC = dt.UTC

# estimate_duration: see its docstring.
SAFETY_FACTOR = 1.5
PER_NODE_DEFAULT = dt.timedelta(minutes=15)
OVERHEAD_DEFAULT = dt.timedelta(minutes=10)

_MAX_ERRORS_RE = re.compile(r"^(\d+)(%?)$")


class Verdict(StrEnum):
    START = "start"
    BEFORE_WINDOW = "before_window"
    AFTER_CUTOFF = "after_cutoff"
    WOULD_OVERRUN = "would_overrun"
    BLACKOUT = "blackout"


@dataclass(frozen=True)
class Decision:
    """A gate's answer and the sentence that explains it."""

    verdict: Verdict
    sentence: str

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.START

    def __str__(self) -> str:
        return self.sentence


def may_start(
    instance: WindowInstance,
    now: dt.datetime,
    estimated: dt.timedelta,
    next_instance: WindowInstance | None = None,
) -> Decision:
    """May a cluster expected to take ``estimated`` start at ``now`` in ``instance``?

    ``next_instance`` (see ``calendar.next_open``) only makes the deferral sentence name the next window.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    t = now.astimezone(UTC)
    start, end, cutoff = (x.astimezone(UTC) for x in (instance.start, instance.end, instance.cutoff))
    later = f"deferred to next window {local_time(next_instance.start)}" if next_instance else "deferred"
    if instance.skipped_by:
        return Decision(
            Verdict.BLACKOUT,
            f"{later}: the {instance.cycle_date} cycle of window {instance.window} is skipped "
            f"(blackout: {instance.skipped_by})",
        )
    if t < start:
        return Decision(
            Verdict.BEFORE_WINDOW,
            f"waiting: window {instance.window} opens {local_time(instance.start)}, in {human_duration(start - t)}",
        )
    if t >= end:
        return Decision(
            Verdict.AFTER_CUTOFF, f"{later}: window {instance.window} ended {clock(instance.end)}"
        )
    if t >= cutoff:
        return Decision(
            Verdict.AFTER_CUTOFF,
            f"{later}: past the cutoff {clock(instance.cutoff)}, no new cluster starts in the window's "
            f"last {human_duration(end - cutoff)}",
        )
    if t + estimated > end:
        return Decision(
            Verdict.WOULD_OVERRUN,
            f"{later}: estimated {human_duration(estimated)} would overrun the window end {clock(instance.end)}",
        )
    return Decision(
        Verdict.START,
        f"start: estimated {human_duration(estimated)} fits before the window end {clock(instance.end)}",
    )


def estimate_duration(node_count: int, history_seconds: list[float] | None = None) -> dt.timedelta:
    """Expected time to patch one cluster, rounded up to whole minutes.

    With history (earlier runs of this cluster, in seconds): the 90th percentile by nearest rank — with
    fewer than ten runs that is the slowest run — times ``SAFETY_FACTOR`` (1.5). Without history:
    ``OVERHEAD_DEFAULT`` + ``PER_NODE_DEFAULT`` per node (10 min + 15 min × nodes).
    """
    if node_count < 1:
        raise ValueError(f"node_count must be at least 1, got {node_count}")
    runs = sorted(s for s in history_seconds or [] if s > 0)
    if runs:
        p90 = runs[math.ceil(0.9 * len(runs)) - 1]
        seconds = p90 * SAFETY_FACTOR
    else:
        seconds = (OVERHEAD_DEFAULT + PER_NODE_DEFAULT * node_count).total_seconds()
    return dt.timedelta(minutes=math.ceil(seconds / 60))


def error_budget(spec: str, total: int) -> int:
    """Failed clusters that halt a wave: ``"1"`` is a count, ``"25%"`` a share of ``total`` rounded up;
    never less than 1."""
    m = _MAX_ERRORS_RE.match(spec.strip())
    if not m:
        raise ValueError(f"max_errors {spec!r} is neither a count ('1') nor a percent ('25%')")
    value = int(m.group(1))
    limit = -(-max(total, 0) * value // 100) if m.group(2) else value
    return max(1, limit)


def max_errors_reached(spec: str, failed: int, total: int) -> bool:
    """True when ``failed`` clusters of ``total`` reach the wave's error budget (see ``error_budget``)."""
    return failed >= error_budget(spec, total)
