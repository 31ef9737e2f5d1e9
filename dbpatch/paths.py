"""Where dbpatch keeps state, caches and reports. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Working state (lab, refreshed catalog, run history): ``$DBPATCH_HOME`` or ``./.dbpatch``."""
    return Path(os.environ.get("DBPATCH_HOME") or Path.cwd() / ".dbpatch").resolve()


def cache() -> Path:
    """Downloaded builds, shared by every checkout on the machine: ``$DBPATCH_CACHE``.

    Default ``/var/cache/dbpatch`` for root (readable by the unprivileged user that runs the lab's servers,
    unlike ``/root``), else ``~/.cache/dbpatch``.
    """
    if os.environ.get("DBPATCH_CACHE"):
        return Path(os.environ["DBPATCH_CACHE"]).resolve()
    if os.geteuid() == 0:
        return Path("/var/cache/dbpatch")
    return Path.home() / ".cache" / "dbpatch"


def lab() -> Path:
    """The lab's directory (its inventory, policy, nodes): ``$DBPATCH_LAB_DIR`` or ``<home>/lab``."""
    return Path(os.environ.get("DBPATCH_LAB_DIR") or home() / "lab").resolve()


def state() -> Path:
    """Journals and leases of patch runs: ``$DBPATCH_STATE`` or ``<home>/state``."""
    return Path(os.environ.get("DBPATCH_STATE") or home() / "state").resolve()


def reports() -> Path:
    """Report files for auditors: ``$DBPATCH_REPORTS`` or ``<home>/reports``."""
    return Path(os.environ.get("DBPATCH_REPORTS") or home() / "reports").resolve()


LAB_USER = "dbpatch"
"""The unprivileged OS user that runs the lab's servers when dbpatch runs as root (postgres refuses root)."""
