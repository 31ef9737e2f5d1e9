"""LocalTransport basics: user switch, errors, exit codes, stdin, env, timeout."""

from __future__ import annotations

import os
import time

import pytest

from dbpatch.errors import CommandFailed
from tasks.host.transport import LocalTransport


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport()


def test_runs_and_records_history(local: LocalTransport):
    result = local.run(["echo", "hello"])
    assert result.ok and result.stdout == "hello\n" and result.host == "localhost"
    assert local.history == [result]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_as_user_runs_as_that_user(local: LocalTransport):
    assert local.run(["id", "-un"], as_user="nobody").stdout.strip() == "nobody"
    assert (
        local.run(["sh", "-c", 'echo "$USER $HOME"'], as_user="nobody").stdout.strip()
        == "nobody /nonexistent"
    )


def test_failure_carries_stderr(local: LocalTransport):
    with pytest.raises(CommandFailed) as info:
        local.run(["sh", "-c", "echo first >&2; echo 'no space left' >&2; exit 4"])
    assert info.value.returncode == 4
    assert (
        str(info.value)
        == "localhost: `sh -c echo first >&2; echo 'no space left' >&2; exit 4` exited 4: first; no space left"
    )


def test_missing_command_is_127(local: LocalTransport):
    result = local.run(["dbpatch-no-such-command"], check=False)
    assert result.returncode == 127 and "command not found" in result.stderr
    with pytest.raises(CommandFailed, match="exited 127"):
        local.run(["dbpatch-no-such-command"])


def test_stdin_env_and_cwd(local: LocalTransport):
    assert local.run(["cat"], stdin="abc\n").stdout == "abc\n"
    assert local.run(["printenv", "DBPATCH_X"], env={"DBPATCH_X": "a b"}).stdout == "a b\n"
    assert local.run(["pwd"]).stdout == "/\n"


def test_timeout_is_124(local: LocalTransport):
    started = time.monotonic()
    result = local.run(["sleep", "10"], timeout=0.5, check=False)
    assert result.returncode == 124 and "timed out" in result.stderr
    assert time.monotonic() - started < 5


def test_argv_must_be_strings(local: LocalTransport):
    with pytest.raises(ValueError):
        local.run([])
    with pytest.raises(ValueError):
        local.run(["echo", 1])  # type: ignore[list-item]
