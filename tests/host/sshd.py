"""A real OpenSSH server on 127.0.0.1 for tests, with a per-run host key and client key.

Reuse from any test package::

    from tests.host.sshd import sshd  # noqa: F401  (in a conftest.py: the session fixture)
    from tests.host.sshd import running_sshd  # or the context manager, for your own fixture

Without ``/usr/sbin/sshd`` the fixture skips, except under CI (``CI`` set), where it fails: CI installs
openssh-server, so a skip there would hide every SSH test.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blocks.ssh import SshAccess
from tasks.host.ssh import SshTransport

SSHD = "/usr/sbin/sshd"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Sshd:
    """A running test sshd. Logins with ``client_key`` as ``username`` (the user running the tests)."""

    host: str
    port: int
    username: str
    workdir: Path
    client_key: Path  # ed25519 private key without passphrase; its .pub is in authorized_keys
    known_hosts: Path  # holds this server's host key, for strict checking
    host_key_line: str  # "ssh-ed25519 AAAA…" of the server
    log: Path  # sshd's own log (-e), useful when a login fails

    def access(self, **overrides: Any) -> SshAccess:
        """An ``SshAccess`` block for this server (strict host keys, the client key); fields can be overridden."""
        settings: dict[str, Any] = dict(
            username=self.username,
            port=self.port,
            private_key_path=str(self.client_key),
            known_hosts="strict",
            known_hosts_file=str(self.known_hosts),
            connect_timeout=5.0,
        )
        settings.update(overrides)
        return SshAccess(**settings)

    def transport(self, **overrides: Any) -> SshTransport:
        """An ``SshTransport`` to this server; ``overrides`` go to ``access``."""
        return SshTransport(host=self.host, access=self.access(**overrides))


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(reason: str) -> None:
    if _under_ci():
        pytest.fail(f"{reason} (CI=true: CI must install openssh-server)", pytrace=False)
    pytest.skip(f"{reason}: install openssh-server to run the SSH tests")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(  # noqa: S603 - argument list
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "dbpatch-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def make_key(path: Path, passphrase: str = "") -> Path:
    """A new ed25519 key pair at ``path`` / ``path.pub`` (for tests of wrong or encrypted keys)."""
    if not shutil.which("ssh-keygen"):
        _missing("ssh-keygen not found")
    _keygen(path, passphrase)
    return path


def _wait_until_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 10.0) -> None:
    """Wait for the SSH banner: then sshd accepts logins."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"sshd exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(
        f"sshd did not answer on port {port} within {timeout:g}s: {log.read_text(errors='replace')[-2000:]}"
    )


@contextlib.contextmanager
def running_sshd(workdir: Path) -> Iterator[Sshd]:
    """Start ``sshd -D -e`` on a free port of 127.0.0.1 with keys and config in ``workdir``; stop it after."""
    if not os.path.exists(SSHD):
        _missing(f"{SSHD} not found")
    if not shutil.which("ssh-keygen"):
        _missing("ssh-keygen not found")
    workdir.mkdir(parents=True, exist_ok=True)
    host_key, client_key = workdir / "ssh_host_ed25519_key", workdir / "client_ed25519"
    _keygen(host_key)
    _keygen(client_key)
    (workdir / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    host_key_line = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
    port = free_port()
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"[{HOST}]:{port} {host_key_line}\n")
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        f"ListenAddress {HOST}\n"
        f"HostKey {host_key}\n"
        f"AuthorizedKeysFile {workdir}/authorized_keys\n"
        f"PidFile {workdir}/sshd.pid\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "MaxSessions 32\n"
        "MaxStartups 64\n"
        "PrintMotd no\n"
        "Subsystem sftp internal-sftp\n"
        "LogLevel VERBOSE\n"
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory
    check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)  # noqa: S603
    if check.returncode != 0:
        raise RuntimeError(f"sshd rejected the test config: {check.stderr.strip()}")
    log = workdir / "sshd.log"
    with log.open("wb") as log_fh:
        proc = subprocess.Popen(  # noqa: S603 - argument list
            [SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=log_fh, stderr=log_fh
        )
    try:
        _wait_until_ready(proc, port, log)
        yield Sshd(HOST, port, getpass.getuser(), workdir, client_key, known_hosts, host_key_line, log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real sshd for the whole test session (see the module docstring)."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
