"""Pick the transport for a target from its ``access`` and ``host_access`` block."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blocks.ssh import SshAccess
from dbpatch.errors import ConfigError, NotSupported
from dbpatch.models import Access, Target
from tasks.host.ssh import SshTransport
from tasks.host.transport import LocalTransport, Transport

BlockLoader = Callable[[str], Any]


def _load_ssh_access(name: str) -> Any:
    return SshAccess.load(name, _sync=True)  # type: ignore[call-arg]  # sync client, even inside an async flow


def transport_for(target: Target, loader: BlockLoader | None = None) -> Transport:
    """A transport for ``target``'s host: local, or SSH with the ``SshAccess`` block named by ``host_access``.

    ``loader`` maps a block name to a block (tests pass a dict's ``__getitem__``); by default the block is
    loaded from Prefect. WinRM (SQL Server hosts) is refused with ``NotSupported`` until its transport exists.
    """
    if target.access is Access.LOCAL:
        return LocalTransport(host=target.host)
    if target.access is Access.WINRM:
        raise NotSupported(f"{target.name}: access 'winrm' is not supported yet (no WinRM transport)")
    name = target.host_access
    assert name is not None  # Target's validator requires it for ssh
    try:
        block = (loader or _load_ssh_access)(name)
    except (KeyError, ValueError):
        raise ConfigError(f"{target.name}: host_access: no SSH access block named {name!r}") from None
    if not isinstance(block, SshAccess):
        raise ConfigError(
            f"{target.name}: host_access: block {name!r} is a {type(block).__name__}, not SshAccess"
        )
    return SshTransport(host=target.host, access=block)
