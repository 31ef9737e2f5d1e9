"""Crash benchmark: SIGKILL a real ``dbpatch patch`` at every step boundary of a rolling PostgreSQL patch
(primary + standby, 15.18 → 15.20), run the same command again, and say per boundary whether the cluster came
out clean: one writable primary, the standby streaming from it, both at the target, no acknowledged write lost,
the rerun exiting 0. Prints ``N/N clean``; exits 0 either way (it reports, it is not a test). See bench/README.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FROM, TO = "15.18", "15.20"


def make_lab(root: Path):
    from bench.switchover import free_base_port
    from lab.lab import LAB_POLICY, Lab, NodeSpec

    topology = (
        NodeSpec("crash-1", 0, FROM, "prod", cluster="crash"),
        NodeSpec("crash-2", 1, FROM, "prod", cluster="crash", upstream="crash-1"),
    )
    policy = copy.deepcopy(LAB_POLICY)
    policy["baselines"] = {"postgresql": {"15": {"approved": [TO]}}}
    policy["thresholds"]["catchup_timeout_seconds"] = 30
    return Lab(root, free_base_port(), topology=topology, policy=policy)


def boundaries(lab) -> list[str]:
    from flows.patch_wave import WaveParameters, patch_wave

    params = WaveParameters(
        inventory_path=str(lab.inventory_path), policy_path=str(lab.policy_path), dry_run=True
    )
    (run,) = patch_wave(params).runs
    return [f"{s.node}: {s.action}" for s in run.plan] + ["the post-checks"]


def one(k: int | None, delay: float | None, api_url: str) -> tuple[str, object]:
    import contextlib
    import io

    from dbpatch.models import load_inventory
    from lab import crash
    from tasks.postgres.driver import Credentials

    root = Path(tempfile.mkdtemp(prefix="dbpatch-crash-", dir="/var/tmp"))
    root.chmod(0o755)
    os.environ["DBPATCH_STATE"] = str(root / "state")
    lab = make_lab(root / "lab")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            lab.up()
            lab.save_blocks()
        nodes = {n.name: ("127.0.0.1", n.port) for n in lab.nodes()}
        creds = Credentials("postgres", lab.password(), sslmode="disable")
        targets = load_inventory(lab.inventory_path).clusters()["crash"]
        argv = crash.command(lab.inventory_path, lab.policy_path, "crash")
        label = f"kill-at:{k}" if k is not None else f"kill after {delay:.2f} s"
        t = crash.trial(label, argv, nodes, creds, targets, TO, env=crash.env_for(api_url), kill_at=k,
                        kill_after=delay)  # fmt: skip
        return label, t
    finally:
        with contextlib.redirect_stdout(io.StringIO()):
            lab.down(destroy=True)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=0, help="also this many kills at random delays")
    parser.add_argument("--only", type=int, nargs="*", help="only these boundaries (1-based)")
    parser.add_argument(
        "--verbose", action="store_true", help="print the rerun's output for a trial that is not clean"
    )
    args = parser.parse_args()
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("DBPATCH_HOME", tempfile.mkdtemp(prefix="dbpatch-crash-home-", dir="/var/tmp"))
    os.chmod(os.environ["DBPATCH_HOME"], 0o755)
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}, Python {platform.python_version()}"
    )
    started = time.monotonic()
    with prefect_test_harness(server_startup_timeout=120):
        api = PREFECT_API_URL.value()
        root = Path(tempfile.mkdtemp(prefix="dbpatch-crash-plan-", dir="/var/tmp"))
        root.chmod(0o755)
        lab = make_lab(root / "lab")
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            lab.up()
            lab.save_blocks()
            names = boundaries(lab)
            lab.down(destroy=True)
        shutil.rmtree(root, ignore_errors=True)
        wanted = args.only or list(range(1, len(names) + 1))
        import random

        trials = [(k, None) for k in wanted] + [(None, random.uniform(3.0, 9.0)) for _ in range(args.random)]
        clean = 0
        print(f"{'boundary':<44} {'result':<10} {'rerun':>5} {'acked':>6} {'lost':>5}  detail")
        for k, delay in trials:
            label, t = one(k, delay, api)
            where = f"{k:>2}. kill before {names[k - 1]}" if k is not None else label
            ok = t.clean  # type: ignore[attr-defined]
            clean += ok
            detail = "" if ok else "; ".join(t.problems)  # type: ignore[attr-defined]
            print(f"{where:<44} {'clean' if ok else 'NOT CLEAN':<10} {t.rerun_rc:>5} {t.acked:>6} {t.lost_writes:>5}  {detail}",  # type: ignore[attr-defined]
                  flush=True)  # fmt: skip
            if not ok and args.verbose:
                print("    " + t.rerun_out.replace("\n", "\n    "))  # type: ignore[attr-defined]
    print(f"{clean}/{len(trials)} clean in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
