"""How dbpatch runs a command on a database host: locally, over SSH (paramiko) or WinRM (pypsrp).

Like pyinfra's connectors, a transport hides how the host is reached and turns every low-level exception into
``TargetUnreachable`` or ``CommandFailed`` naming the host. Commands are argument lists built from validated
values; nothing here glues strings from inventory fields into a shell.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dbpatch.errors import CommandFailed, TargetUnreachable


@dataclass(frozen=True)
class CommandResult:
    host: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class Transport(ABC):
    """Run argument-list commands on one host. ``run`` does the shared work; subclasses implement ``_run``."""

    host: str
    history: list[CommandResult] = field(default_factory=list, repr=False)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 120.0,
        check: bool = True,
        as_user: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        """Run ``argv`` (optionally as another OS user) and return its result.

        ``check`` raises ``CommandFailed`` with the command's stderr when it exits non-zero.
        """
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a non-empty list of strings")
        started = time.monotonic()
        rc, out, err = self._run(
            list(argv), timeout=timeout, as_user=as_user, env=dict(env or {}), stdin=stdin
        )
        result = CommandResult(self.host, tuple(argv), rc, out, err, time.monotonic() - started)
        self.history.append(result)
        if check and rc != 0:
            raise CommandFailed(self.host, argv, rc, err or out)
        return result

    @abstractmethod
    def _run(
        self, argv: list[str], *, timeout: float, as_user: str | None, env: dict[str, str], stdin: str | None
    ) -> tuple[int, str, str]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection, if any."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class LocalTransport(Transport):
    """Commands on this machine. ``as_user`` switches user only when running as root (e.g. to start postgres);
    ``as_user="root"`` when not root goes through ``sudo -n``."""

    host: str = "localhost"

    def _run(
        self, argv: list[str], *, timeout: float, as_user: str | None, env: dict[str, str], stdin: str | None
    ) -> tuple[int, str, str]:
        kwargs: dict = {}
        full_env = {**os.environ, **env}
        if as_user == "root" and os.geteuid() != 0:
            argv = ["sudo", "-n", "--", *argv]  # like SshTransport on a non-root login
        elif as_user and os.geteuid() == 0 and as_user != "root":
            entry = pwd.getpwnam(as_user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
            full_env.update(HOME=entry.pw_dir, USER=as_user, LOGNAME=as_user)
        try:
            proc = subprocess.run(  # noqa: S603 - argument list, no shell
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=full_env,
                cwd="/",
                **kwargs,
            )
        except FileNotFoundError:
            return 127, "", f"{argv[0]}: command not found"
        except subprocess.TimeoutExpired:
            return 124, "", f"timed out after {timeout:g}s"
        except PermissionError as exc:
            raise TargetUnreachable(self.host, f"cannot run {argv[0]}: {exc.strerror}") from None
        return proc.returncode, proc.stdout, proc.stderr
