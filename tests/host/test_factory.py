"""transport_for: the access of a target decides the transport; blocks come from an injected loader."""

from __future__ import annotations

import asyncio

import pytest

from blocks.ssh import SshAccess, WinRmAccess
from dbpatch.errors import ConfigError, NotSupported
from dbpatch.models import Target
from tasks.host.factory import transport_for
from tasks.host.ssh import SshTransport
from tasks.host.transport import LocalTransport, Transport


def _target(**kw) -> Target:
    fields = dict(
        name="pg-orders-1",
        engine="postgresql",
        environment="dev",
        host="db1.example.com",
        port=5432,
        credentials="pg-orders",
        package_source="apt",
    )
    return Target(**{**fields, **kw})


def test_local_target_gets_a_local_transport():
    transport = transport_for(_target(host="127.0.0.1"))
    assert isinstance(transport, LocalTransport) and transport.host == "127.0.0.1"


def test_ssh_target_gets_an_ssh_transport_with_its_block():
    block = SshAccess(username="dbpatch", port=2222)
    transport = transport_for(
        _target(access="ssh", host_access="pg-hosts"), loader={"pg-hosts": block}.__getitem__
    )
    assert isinstance(transport, SshTransport)
    assert transport.host == "db1.example.com" and transport.access is block


def test_unknown_or_wrong_block_is_a_config_error():
    target = _target(access="ssh", host_access="pg-hosts")
    with pytest.raises(ConfigError, match="no SSH access block named 'pg-hosts'"):
        transport_for(target, loader={}.__getitem__)
    winrm = WinRmAccess(username="dbpatch", password="x")
    with pytest.raises(ConfigError, match="is a WinRmAccess, not SshAccess"):
        transport_for(target, loader={"pg-hosts": winrm}.__getitem__)


def test_winrm_is_not_supported_yet():
    target = _target(name="sql-1", engine="sqlserver", os="windows", access="winrm", host_access="win-hosts")
    with pytest.raises(NotSupported, match="winrm"):
        transport_for(target, loader=lambda name: pytest.fail("must not load a block"))


def test_default_loader_reads_the_saved_block(prefect_harness):
    """Through the Prefect test harness (tests/conftest.py): the block round-trips with its secret."""
    SshAccess(username="dbpatch", port=2222, password="pw-saved").save(
        "test-factory-pg-hosts", overwrite=True
    )
    transport = transport_for(_target(access="ssh", host_access="test-factory-pg-hosts"))
    assert isinstance(transport, SshTransport) and transport.access.port == 2222
    assert (
        transport.access.password is not None and transport.access.password.get_secret_value() == "pw-saved"
    )
    with pytest.raises(ConfigError, match="no SSH access block named 'test-factory-absent'"):
        transport_for(_target(access="ssh", host_access="test-factory-absent"))


def test_default_loader_works_inside_async_code(prefect_harness):
    """An async flow calls the sync factory from its event loop: the block must load, not a coroutine."""
    SshAccess(username="dbpatch").save("test-factory-async", overwrite=True)

    async def in_event_loop() -> Transport:
        return transport_for(_target(access="ssh", host_access="test-factory-async"))

    transport = asyncio.run(in_event_loop())
    assert isinstance(transport, SshTransport) and transport.access.username == "dbpatch"
