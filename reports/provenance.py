"""Where a report came from, for an auditor: the dbpatch version, the sha256 of the policy and inventory files
it read, the operator (OS user), the host, and the Prefect flow run (id and UI address) when inside one."""

from __future__ import annotations

import getpass
import hashlib
import socket
from importlib import metadata
from pathlib import Path


def _sha256(path: str | Path | None) -> str:
    if not path:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable ({type(exc).__name__})"


def _version() -> str:
    try:
        return metadata.version("dbpatch")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def flow_run() -> tuple[str, str]:
    """(id, UI address) of the Prefect flow run this code runs in; blanks outside one."""
    try:
        from prefect.runtime import flow_run as current

        run_id = current.id
        if not run_id:
            return "", ""
        return str(run_id), str(current.ui_url or "")
    except Exception:  # noqa: BLE001 - provenance must never break a report
        return "", ""


def provenance(
    inventory_path: str | Path | None, policy_path: str | Path | None, **extra: str
) -> dict[str, str]:
    """The provenance rows of a report, in a fixed order; ``extra`` adds rows (overrides in force, …)."""
    run_id, url = flow_run()
    out = {
        "dbpatch_version": _version(),
        "policy": str(policy_path or ""),
        "policy_sha256": _sha256(policy_path),
        "inventory": str(inventory_path or ""),
        "inventory_sha256": _sha256(inventory_path),
        "operator": _operator(),
        "host": socket.gethostname(),
        "flow_run_id": run_id,
        "flow_run_url": url,
    }
    out.update({k: str(v) for k, v in extra.items()})
    return out


def markdown(rows: dict[str, str]) -> str:
    """The provenance as a two-column Markdown table (for the summary artifact)."""
    lines = ["| origin of this report | |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" if v else f"| {k} | |" for k, v in rows.items()]
    return "\n".join(lines)
