"""`prefect deploy --all` registers the project's deployments, with the monthly cycle on third Saturdays."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from prefect import get_client
from prefect.settings import PREFECT_API_URL

from tasks.schedule.calendar import third_saturday

ROOT = Path(__file__).resolve().parents[2]


async def _prepare_and_read(names: list[str] | None = None):
    async with get_client() as client:
        if names is None:
            from prefect.client.schemas.actions import WorkPoolCreate

            await client.create_work_pool(WorkPoolCreate(name="dbpatch-pool", type="process"), overwrite=True)
            return None
        return [await client.read_deployment_by_name(n) for n in names]


def test_prefect_deploy_registers_the_monthly_cycle(prefect_harness):
    asyncio.run(_prepare_and_read())
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "DBPATCH_REPO": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    names = [
        "patch-cycle/monthly-patch-cycle",
        "inventory-scan/inventory-scan",
        "drift-report/drift-report",
        "patch-wave/patch-wave",
        "refresh-catalog/refresh-catalog",
    ]
    deployments = dict(zip(names, asyncio.run(_prepare_and_read(names)), strict=True))
    cycle = deployments["patch-cycle/monthly-patch-cycle"]
    assert cycle.work_pool_name == "dbpatch-pool" and cycle.entrypoint == "flows/patch_cycle.py:patch_cycle"
    (schedule,) = [s.schedule for s in cycle.schedules]
    tz = ZoneInfo(schedule.timezone)
    start = dt.datetime(2026, 11, 24, tzinfo=tz)
    rule = rrulestr(schedule.rrule, dtstart=start.replace(tzinfo=None))
    runs = [t.replace(tzinfo=tz) for t in rule.xafter(start.replace(tzinfo=None), count=4)]
    assert [r.date() for r in runs] == [
        third_saturday(y, m) for y, m in ((2026, 12), (2027, 1), (2027, 2), (2027, 3))
    ]
    assert all(r.hour == 22 and r.weekday() == 5 for r in runs)
    assert deployments["patch-wave/patch-wave"].schedules == []
