"""SshTransport against a real OpenSSH server on 127.0.0.1 (the ``sshd`` fixture)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from blocks.ssh import SshAccess, WinRmAccess
from dbpatch.errors import CommandFailed, TargetUnreachable
from tasks.host.ssh import SshTransport
from tasks.host.transport import LocalTransport
from tests.host.sshd import HOST, Sshd, free_port, make_key

PASSWORD = "pw-S3cret-do-not-print"
PASSPHRASE = "pp-S3cret-do-not-print"


@pytest.fixture
def ssh(sshd: Sshd):
    with sshd.transport() as transport:
        yield transport


def _can_switch_user(sshd: Sshd) -> bool:
    if sshd.username == "root":
        return True
    return subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0  # noqa: S607


# --- commands ----------------------------------------------------------------------------------------------


def test_runs_as_the_login_user(ssh: SshTransport, sshd: Sshd):
    result = ssh.run(["id", "-un"])
    assert result.stdout.strip() == sshd.username
    assert result.ok and result.host == HOST and result.argv == ("id", "-un")
    assert ssh.history == [result]


def test_each_argument_stays_one_argument(ssh: SshTransport, tmp_path: Path):
    marker = Path(f"/tmp/dbpatch-quoting-{uuid.uuid4().hex}")
    args = [
        f"15.20; touch {marker}",
        f"$(touch {marker})",
        f"`touch {marker}`",
        "it's",
        "a b",
        "*",
        "",
        "x\ny",
    ]
    result = ssh.run(["printf", r"%s\n", *args])
    assert result.stdout == "".join(f"{a}\n" for a in args)
    assert not marker.exists()


def test_nonzero_exit_raises_with_stderr(ssh: SshTransport):
    with pytest.raises(CommandFailed) as info:
        ssh.run(["sh", "-c", "echo the disk is full >&2; exit 3"])
    assert info.value.returncode == 3
    assert "the disk is full" in str(info.value) and HOST in str(info.value)
    assert ssh.run(["sh", "-c", "exit 3"], check=False).returncode == 3


def test_missing_command_is_rc_127(ssh: SshTransport):
    assert ssh.run(["dbpatch-no-such-command"], check=False).returncode == 127


def test_stdin_passes_through(ssh: SshTransport):
    assert ssh.run(["cat"], stdin="line one\nline two\n").stdout == "line one\nline two\n"
    big = "0123456789abcdef" * 256 * 1024  # 4 MiB, more than the SSH windows: stdin and stdout interleave
    assert ssh.run(["cat"], stdin=big, timeout=30).stdout == big
    assert ssh.run(["cat"]).stdout == ""  # no stdin: EOF at once, never a hang


def test_env_is_passed_verbatim(ssh: SshTransport, tmp_path: Path):
    marker = tmp_path / "env-marker"
    value = f"a b; $(touch {marker}) 'q'"
    assert ssh.run(["printenv", "DBPATCH_VALUE"], env={"DBPATCH_VALUE": value}).stdout == value + "\n"
    assert not marker.exists()
    with pytest.raises(ValueError, match="not environment variable names"):
        ssh.run(["true"], env={"BAD=NAME": "x"})


def test_runs_in_the_root_directory(ssh: SshTransport):
    assert ssh.run(["pwd"]).stdout.strip() == "/"


def test_as_user_switches_user(ssh: SshTransport, sshd: Sshd):
    if not _can_switch_user(sshd):
        pytest.skip("needs root or passwordless sudo for the test user")
    assert ssh.run(["id", "-un"], as_user="nobody").stdout.strip() == "nobody"
    assert ssh.run(["printenv", "X"], as_user="nobody", env={"X": "1"}).stdout == "1\n"
    assert ssh.run(["id", "-un"], as_user=sshd.username).stdout.strip() == sshd.username


def test_timeout_returns_124_and_kills_the_command(ssh: SshTransport):
    started = time.monotonic()
    result = ssh.run(["sleep", "31.4159"], timeout=1, check=False)
    assert result.returncode == 124
    assert "timed out after 1s" in result.stderr
    assert time.monotonic() - started < 8
    leftover = LocalTransport().run(["pgrep", "-f", "sleep 31.4159"], check=False)
    assert leftover.returncode == 1, leftover.stdout


def test_reconnects_after_close_and_after_a_dropped_connection(ssh: SshTransport):
    assert ssh.run(["true"]).ok
    ssh.close()
    assert ssh.run(["true"]).ok
    ssh.connect().close()  # the connection drops under the transport
    assert ssh.run(["echo", "back"]).stdout == "back\n"


def test_commands_from_several_threads(ssh: SshTransport):
    results: dict[int, str] = {}

    def work(i: int) -> None:
        results[i] = ssh.run(["echo", str(i)]).stdout

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: f"{i}\n" for i in range(8)}


def test_private_key_given_as_text(sshd: Sshd):
    with sshd.transport(private_key=sshd.client_key.read_text(), private_key_path=None) as transport:
        assert transport.run(["true"]).ok


# --- host keys ---------------------------------------------------------------------------------------------


def _unreachable(transport: SshTransport) -> TargetUnreachable:
    with transport, pytest.raises(TargetUnreachable) as info:
        transport.run(["true"])
    assert info.value.target == HOST
    return info.value


def test_strict_refuses_an_unknown_host(sshd: Sshd, tmp_path: Path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    error = _unreachable(sshd.transport(known_hosts_file=str(empty)))
    assert "host key verification failed" in error.reason
    error = _unreachable(sshd.transport(known_hosts_file=str(tmp_path / "missing")))
    assert "host key verification failed" in error.reason


def test_accept_new_records_the_key_then_strict_accepts_it(sshd: Sshd, tmp_path: Path):
    known = tmp_path / "new-dir" / "known_hosts"
    with sshd.transport(known_hosts="accept-new", known_hosts_file=str(known)) as transport:
        assert transport.run(["true"]).ok
    assert known.read_text() == f"[{HOST}]:{sshd.port} {sshd.host_key_line}\n"
    with sshd.transport(known_hosts="strict", known_hosts_file=str(known)) as transport:
        assert transport.run(["true"]).ok


def test_accept_new_keeps_existing_lines(sshd: Sshd, tmp_path: Path):
    known = tmp_path / "known_hosts"
    kept = [
        "# managed by hand",
        f"@cert-authority *.corp {sshd.host_key_line}",
        "broken.example ssh-ed25519 AAAA",
    ]
    known.write_text("\n".join(kept))  # no final newline; lines paramiko's own loader chokes on
    with sshd.transport(known_hosts="accept-new", known_hosts_file=str(known)) as transport:
        assert transport.run(["true"]).ok
    assert known.read_text().splitlines() == [*kept, f"[{HOST}]:{sshd.port} {sshd.host_key_line}"]
    with sshd.transport(known_hosts="strict", known_hosts_file=str(known)) as transport:
        assert transport.run(["true"]).ok


def test_strict_reads_hashed_known_hosts(sshd: Sshd, tmp_path: Path):
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts.read_text())
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)  # noqa: S607
    assert known.read_text().startswith("|1|")
    with sshd.transport(known_hosts_file=str(known)) as transport:
        assert transport.run(["true"]).ok


@pytest.mark.parametrize("mode", ["strict", "accept-new"])
def test_a_changed_host_key_is_refused(sshd: Sshd, tmp_path: Path, mode: str):
    other_key = " ".join(Path(f"{sshd.client_key}.pub").read_text().split()[:2])  # some other ed25519 key
    known = tmp_path / "known_hosts"
    known.write_text(f"[{HOST}]:{sshd.port} {other_key}\n")
    error = _unreachable(sshd.transport(known_hosts=mode, known_hosts_file=str(known)))
    assert "host key verification failed" in error.reason and "changed" in error.reason
    assert known.read_text() == f"[{HOST}]:{sshd.port} {other_key}\n"


def test_insecure_ignore_connects_without_known_hosts(sshd: Sshd, tmp_path: Path):
    known = tmp_path / "known_hosts"
    with sshd.transport(known_hosts="insecure-ignore", known_hosts_file=str(known)) as transport:
        assert transport.run(["true"]).ok
    assert not known.exists()


# --- authentication and network errors ---------------------------------------------------------------------


def test_wrong_key_is_authentication_failed_without_secrets(sshd: Sshd, tmp_path: Path):
    wrong = make_key(tmp_path / "wrong_key", passphrase=PASSPHRASE)
    transport = sshd.transport(
        private_key=wrong.read_text(), private_key_path=None, passphrase=PASSPHRASE, password=PASSWORD
    )
    error = _unreachable(transport)
    assert "authentication failed" in error.reason
    for text in (str(error), repr(error), error.reason, repr(transport)):
        assert PASSWORD not in text and PASSPHRASE not in text and "PRIVATE KEY" not in text


def test_encrypted_key_needs_the_right_passphrase(sshd: Sshd, tmp_path: Path):
    key = make_key(tmp_path / "encrypted_key", passphrase=PASSPHRASE)
    error = _unreachable(sshd.transport(private_key_path=str(key)))
    assert "encrypted" in error.reason
    error = _unreachable(sshd.transport(private_key_path=str(key), passphrase="wrong-" + PASSPHRASE))
    assert "wrong passphrase" in error.reason and PASSPHRASE not in str(error)
    error = _unreachable(sshd.transport(private_key_path=str(tmp_path / "absent")))
    assert "cannot read private key file" in error.reason


def test_closed_port_is_connection_refused(sshd: Sshd):
    error = _unreachable(sshd.transport(port=free_port()))
    assert error.reason == "ssh: connection refused"
    assert str(error) == f"{HOST}: unreachable: ssh: connection refused"


def test_silent_port_times_out():
    with socket.socket() as server:
        server.bind((HOST, 0))
        server.listen()
        access = SshAccess(username="root", port=server.getsockname()[1], connect_timeout=0.5)
        error = _unreachable(SshTransport(host=HOST, access=access))
    assert "timed out" in error.reason


def test_no_sudo_means_no_other_user():
    transport = SshTransport(host=HOST, access=SshAccess(username="dbpatch", sudo=False))
    with pytest.raises(TargetUnreachable, match="sudo is off"):
        transport.run(["id"], as_user="postgres")


# --- argv building and blocks (no server) ------------------------------------------------------------------


def test_remote_argv_switches_user_the_right_way():
    def remote(username: str, as_user: str | None, **kw) -> list[str]:
        transport = SshTransport(host="db1", access=SshAccess(username=username, **kw))
        return transport.remote_argv(["pg_ctl", "stop"], timeout=60, as_user=as_user, env={"PGDATA": "/d"})

    prefix = ["timeout", "--kill-after=5s", "60s"]
    assert remote("root", "postgres") == [
        *prefix,
        "runuser",
        "-u",
        "postgres",
        "--",
        "env",
        "PGDATA=/d",
        "pg_ctl",
        "stop",
    ]
    assert remote("dba", "postgres") == [
        *prefix,
        "sudo",
        "-n",
        "-u",
        "postgres",
        "--",
        "env",
        "PGDATA=/d",
        "pg_ctl",
        "stop",
    ]
    assert remote("postgres", "postgres") == [*prefix, "env", "PGDATA=/d", "pg_ctl", "stop"]
    assert remote("dba", None) == [*prefix, "env", "PGDATA=/d", "pg_ctl", "stop"]
    with pytest.raises(ValueError, match="not a user name"):
        remote("dba", "#0")


def test_blocks_never_show_secrets():
    block = SshAccess(
        username="dba",
        private_key="-----BEGIN OPENSSH PRIVATE KEY-----KEYDATA",
        passphrase=PASSPHRASE,
        password=PASSWORD,
    )
    winrm = WinRmAccess(username="CORP\\dbpatch", password=PASSWORD)
    for text in (
        repr(block),
        str(block),
        block.model_dump_json(),
        repr(winrm),
        str(winrm),
        winrm.model_dump_json(),
    ):
        assert PASSWORD not in text and PASSPHRASE not in text and "KEYDATA" not in text
    assert block.password is not None and block.password.get_secret_value() == PASSWORD


def test_block_validation():
    with pytest.raises(ValueError, match="not both"):
        SshAccess(username="dba", private_key="k", private_key_path="/k")
    with pytest.raises(ValueError):
        SshAccess(username="dba", port=0)
    with pytest.raises(ValueError):
        SshAccess(username="dba", known_hosts="yes")
    assert SshAccess(username="dba").known_hosts == "strict"
    assert SshAccess.get_block_type_name() == "dbpatch SSH Access"
    assert WinRmAccess.get_block_type_name() == "dbpatch WinRM Access"
    assert all(f.description for f in SshAccess.model_fields.values())
    assert all(f.description for f in WinRmAccess.model_fields.values())
