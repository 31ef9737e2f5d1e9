"""Flow ``window_reminders``: tell the team N hours before a maintenance window opens (run it hourly)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from dbpatch import paths
from dbpatch.errors import ConfigError
from dbpatch.models import load_policy
from tasks.schedule.calendar import window_instances
from tasks.schedule.notify import NotifyEvent, notify, reminder_payload, reminders_due


@flow(name="window-reminders", log_prints=True)
def window_reminders(
    policy_path: str,
    webhook_block: str,
    hours_before: Annotated[float, Field(gt=0, le=168)] = 24,
    now: dt.datetime | None = None,
) -> list[str]:
    """Send one ``window_reminder`` per upcoming window instance (remembered, so hourly runs don't repeat it).
    The webhook URL comes from the Secret block ``webhook_block`` (never a parameter: URLs carry tokens)."""
    from flows.patch_cycle import webhook_from

    log = get_run_logger()
    policy = load_policy(policy_path)
    webhook_url = webhook_from(webhook_block)
    if not webhook_url:
        raise ConfigError("parameters: webhook_block is required")
    now = now or dt.datetime.now(dt.UTC)
    sent_file = paths.home() / "state" / "reminders-sent.json"
    sent = set(json.loads(sent_file.read_text())) if sent_file.exists() else set()
    reminded = []
    for window in policy.windows:
        for instance in reminders_due(window_instances(window, policy.blackouts, now, 2), now, hours_before):
            if instance.key in sent:
                continue
            if notify(webhook_url, NotifyEvent.WINDOW_REMINDER, reminder_payload(instance)):
                sent.add(instance.key)
                reminded.append(instance.key)
                log.info("reminded: %s", instance.describe())
    sent_file.parent.mkdir(parents=True, exist_ok=True)
    sent_file.write_text(json.dumps(sorted(sent)))
    return reminded
