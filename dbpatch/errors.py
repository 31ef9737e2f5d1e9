"""One exception hierarchy for dbpatch.

Driver errors (psycopg, pymongo, paramiko, pypsrp, pyodbc, subprocess) are translated into these at the
boundary where they occur, so flows only ever see a ``PatchError`` whose message is one readable sentence
that names the target and never contains a secret.
"""

from __future__ import annotations

from collections.abc import Sequence


class PatchError(Exception):
    """Base of every error dbpatch raises on purpose."""


class ConfigError(PatchError):
    """Bad input: inventory, policy, parameters or catalog data. The CLI prints it and exits 2.

    ``problems`` holds one line per problem, each already naming file and field path
    (``inventory.yaml: targets[3].port: must be 1..65535``).
    """

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class TargetUnreachable(PatchError):
    """A target (database or host) cannot be reached. ``reason`` is short: 'connection refused'."""

    def __init__(self, target: str, reason: str):
        self.target = target
        self.reason = reason
        super().__init__(f"{target}: unreachable: {reason}")


class CommandFailed(PatchError):
    """A host command exited non-zero; the message carries the command's stderr (never its environment)."""

    def __init__(self, host: str, argv: Sequence[str], returncode: int, stderr: str):
        self.host = host
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr.strip()
        tail = self.stderr.splitlines()[-3:] if self.stderr else []
        detail = ("; ".join(tail))[:500] or "no stderr"
        super().__init__(
            f"{host}: `{' '.join(self.argv[:4])}{' …' if len(self.argv) > 4 else ''}` exited {returncode}: {detail}"
        )


class PrecheckFailed(PatchError):
    """A pre-check said no: the cluster is skipped and nothing has changed."""


class PatchFailed(PatchError):
    """Applying a patch failed on a node (rollback may have been attempted)."""


class RollbackFailed(PatchFailed):
    """The automatic rollback itself failed: a person must look at the node now."""


class NotSupported(PatchError):
    """The requested change is outside what dbpatch does (e.g. a MongoDB major jump of two series)."""


class NeedsPerson(PatchError):
    """dbpatch cannot bring the cluster to a safe state on its own. The message says the exact state and the
    next safe command; the run exits non-zero and nothing more is done to the cluster."""
