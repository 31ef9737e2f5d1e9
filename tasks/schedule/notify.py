"""Webhook notifications (chat, paging, ticketing): best effort, never the reason a patch run fails.

``notify`` posts ``{"event": ..., "source": "dbpatch", "payload": {...}}`` as JSON. It retries twice on
transport errors and 5xx answers only, logs a failure in one line and returns False; it never raises for a
delivery problem. Keys that look like secrets are dropped from the payload before it is serialised, and the
webhook URL (which often carries a token) is never logged beyond its scheme and host.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Iterable
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx

from tasks.schedule.calendar import WindowInstance

log = logging.getLogger("dbpatch.notify")

TIMEOUT_SECONDS = 10.0
RETRIES = 2
# Matches password, db_pwd, secret, token, api_key, private-key, authorization, cookie; not "passed".
_SECRET_KEY = re.compile(
    r"passw(or)?d|passphrase|(^|[-_.])pwd($|[-_.])|secret|token|api[-_]?key|private[-_]?key|authori[sz]ation|cookie",
    re.I,
)


class NotifyEvent(StrEnum):
    CYCLE_STARTED = "cycle_started"
    CYCLE_SKIPPED = "cycle_skipped"  # a blackout skips this window instance: the run does nothing
    CANARY_RESULT = "canary_result"
    WAVE_RESULT = "wave_result"
    FAILURE = "failure"
    WINDOW_REMINDER = "window_reminder"
    APPROVAL_NEEDED = "approval_needed"


def scrub(value: Any) -> Any:
    """A copy of ``value`` without mapping keys named like secrets (password, secret, token, api_key, …),
    at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def notify(
    webhook_url: str | None,
    event: NotifyEvent,
    payload: dict[str, Any],
    *,
    timeout: float = TIMEOUT_SECONDS,
    retries: int = RETRIES,
    backoff_seconds: float = 1.0,
) -> bool:
    """Post one event; True when the receiver answered 2xx. Never raises for a delivery problem."""
    if not webhook_url:
        return False
    where = _where(webhook_url)
    dropped = _secret_keys(payload)
    if dropped:
        log.warning(
            "notify %s: dropped secret-looking keys from the payload: %s", event.value, ", ".join(dropped)
        )
    try:
        body = json.dumps({"event": event.value, "source": "dbpatch", "payload": scrub(payload)}, default=str)
    except (TypeError, ValueError) as exc:
        log.warning("notify %s: payload is not JSON: %s", event.value, exc)
        return False
    problem = "not sent"
    for attempt in range(retries + 1):
        if attempt and backoff_seconds:
            time.sleep(backoff_seconds * attempt)
        try:
            response = httpx.post(
                webhook_url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:  # a bad URL: retrying will not help
            problem = type(exc).__name__
            break
        except httpx.TransportError as exc:  # refused, reset, timed out: worth another try
            problem = type(exc).__name__
            continue
        except Exception as exc:  # best effort by design: a notice must never fail a patch run
            problem = type(exc).__name__
            break
        if response.is_success:
            return True
        problem = f"HTTP {response.status_code}"
        if response.status_code < 500:
            break
    log.warning("notify %s to %s failed: %s", event.value, where, problem)
    return False


def reminders_due(
    instances: Iterable[WindowInstance], now: dt.datetime, hours_before: float
) -> list[WindowInstance]:
    """Instances that open within ``hours_before`` of ``now`` and are not skipped.

    Stateless: an instance stays due until it opens, so a caller that runs more often than that keeps a
    set of ``instance.key`` it has already reminded about.
    """
    t = now.astimezone(dt.UTC)
    lead = dt.timedelta(hours=hours_before)
    return [i for i in instances if not i.skipped and t < i.start.astimezone(dt.UTC) <= t + lead]


def reminder_payload(instance: WindowInstance) -> dict[str, Any]:
    """Plain data for a ``window_reminder`` event."""
    return {
        "window": instance.window,
        "cycle": instance.key,
        "start": instance.start.isoformat(),
        "end": instance.end.isoformat(),
        "cutoff": instance.cutoff.isoformat(),
        "moved_from": instance.moved_from.isoformat() if instance.moved_from else None,
    }


def _secret_keys(value: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            found += [path] if _SECRET_KEY.search(str(k)) else _secret_keys(v, path)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found += _secret_keys(v, f"{prefix}[{i}]")
    return found


def _where(url: str) -> str:
    """Scheme and host only: webhook paths and queries often embed a token."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" if parts.hostname else "(invalid URL)"
    except ValueError:
        return "(invalid URL)"
