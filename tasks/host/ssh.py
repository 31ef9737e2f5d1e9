"""Commands on a Linux host over SSH (paramiko), configured by an ``SshAccess`` block.

The argument list is quoted with ``shlex.join``, so every element stays one argument for the remote shell.
``as_user`` becomes ``sudo -n -u USER --`` (``runuser -u USER --`` for a root login; ``as_user="root"`` on a
non-root login is ``sudo -n -u root --``), ``env`` becomes
``env K=V`` in front of the command (sshd refuses most ``SendEnv`` variables), and the command runs under
``timeout`` on the host so a command that overruns is killed there as well, like ``LocalTransport`` kills it
locally. Every paramiko and socket error becomes ``TargetUnreachable`` with a short reason naming no secret,
starting with "ssh:" so it never reads like the database's own answer ("ssh: authentication failed for user …").
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from blocks.ssh import SshAccess
from dbpatch.errors import TargetUnreachable
from tasks.host.transport import Transport

log = logging.getLogger(__name__)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_USER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$")
_KILL_AFTER = 5.0  # the remote ``timeout`` sends KILL this long after TERM
_GRACE = _KILL_AFTER + 5.0  # the local deadline waits this much longer for the remote one to report
_CHUNK = 65536
_KEEPALIVE = 30


class _HostKeyUnknown(paramiko.SSHException):
    """The host has no key in the known_hosts file (strict checking)."""


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _HostKeyUnknown(hostname)


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """OpenSSH's ``accept-new``: trust a host seen for the first time and append its key to the file.

    Appending, unlike paramiko's ``save_host_keys``, keeps the file's comments and the lines paramiko cannot
    parse (``@cert-authority``); a changed key is still refused by paramiko (``BadHostKeyException``).
    """

    def __init__(self, path: Path):
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            needs_newline = (
                self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
            )
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as fh:
                fh.write(
                    f"{chr(10) if needs_newline else ''}{hostname} {key.get_name()} {key.get_base64()}\n"
                )
        except OSError as exc:
            raise paramiko.SSHException(
                f"cannot record the new host key in {self.path}: {exc.strerror}"
            ) from None
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning(
            "%s: new host key %s %s added to %s", hostname, key.get_name(), key.fingerprint, self.path
        )


class _IgnoreHostKey(paramiko.MissingHostKeyPolicy):
    """``insecure-ignore``: accept any key without recording it. For throwaway labs only."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        log.warning("%s: host key %s NOT verified (known_hosts: insecure-ignore)", hostname, key.fingerprint)


def _load_known_hosts(keys: paramiko.HostKeys, path: Path) -> None:
    """Load plain and hashed entries; skip marker lines and lines paramiko cannot parse.

    ``HostKeys.load`` aborts on the first ``@cert-authority`` or ``@revoked`` line (``InvalidHostKey``,
    paramiko issues #771 and #1156), which would make a normal OpenSSH known_hosts file unusable. Host
    certificates are not supported: such hosts need a plain key line.
    """
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "@")):
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
        except Exception:  # noqa: S112 - InvalidHostKey, bad base64, unknown key type: OpenSSH skips them too
            log.debug("%s:%d: skipped an unreadable known_hosts line", path, lineno)
            continue
        if entry is not None and entry.key is not None:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _seconds(value: float) -> str:
    """A duration for coreutils ``timeout``: '120s', '0.5s' (never '1e+06s', never 0 which means 'no limit')."""
    return f"{max(value, 0.001):.3f}".rstrip("0").rstrip(".") + "s"


@dataclass
class SshTransport(Transport):
    """Commands on ``host`` over SSH with the settings of an ``SshAccess`` block (usable without a server).

    Connects lazily on the first command and again after the connection dropped (a host reboot). One
    ``SSHClient`` per transport; connecting is serialized by a lock and each command gets its own channel, so
    a transport may be shared by threads (sshd's ``MaxSessions``, default 10, bounds concurrent commands).
    """

    access: SshAccess = field(kw_only=True)
    _client: paramiko.SSHClient | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    # --- connection ------------------------------------------------------------------------------------

    def connect(self) -> paramiko.Transport:
        """The live SSH connection, opened (or reopened) now if needed."""
        with self._lock:
            ssh = self._client.get_transport() if self._client else None
            if ssh is None or not ssh.is_active():
                self._close_client()
                self._client = self._open()
                ssh = self._client.get_transport()
                assert ssh is not None
            return ssh

    def close(self) -> None:
        """Close the SSH connection; the next command reconnects."""
        with self._lock:
            self._close_client()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _open(self) -> paramiko.SSHClient:
        a = self.access
        client = paramiko.SSHClient()
        try:
            self._trust_host_keys(client)
            pkey = self._private_key()
            explicit = pkey is not None or a.password is not None
            client.connect(
                self.host,
                port=a.port,
                username=a.username,
                pkey=pkey,
                password=a.password.get_secret_value() if a.password else None,
                timeout=a.connect_timeout,
                banner_timeout=a.connect_timeout,
                auth_timeout=a.connect_timeout,
                allow_agent=not explicit,
                look_for_keys=not explicit,
            )
            ssh = client.get_transport()
            if ssh is None or not ssh.is_active():
                raise paramiko.SSHException("No existing session")
            ssh.set_keepalive(_KEEPALIVE)
        except TargetUnreachable:
            client.close()
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise TargetUnreachable(self.host, f"ssh: {self._reason(exc)}") from None
        log.debug("%s: connected over SSH as %s", self.host, a.username)
        return client

    def _known_hosts_path(self) -> Path:
        return Path(self.access.known_hosts_file or "~/.ssh/known_hosts").expanduser()

    def _trust_host_keys(self, client: paramiko.SSHClient) -> None:
        mode = self.access.known_hosts
        if mode == "insecure-ignore":
            client.set_missing_host_key_policy(_IgnoreHostKey())
            return
        path = self._known_hosts_path()
        if path.exists():
            try:
                _load_known_hosts(client.get_host_keys(), path)
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not a text file"
                raise TargetUnreachable(self.host, f"cannot read known_hosts file {path}: {reason}") from None
        client.set_missing_host_key_policy(_AcceptNew(path) if mode == "accept-new" else _RejectUnknown())

    def _private_key(self) -> paramiko.PKey | None:
        """The block's private key (text or file), decrypted with its passphrase; None when it has none."""
        a = self.access
        if a.private_key is not None:
            text, where = a.private_key.get_secret_value(), "private_key"
        elif a.private_key_path:
            path = Path(a.private_key_path).expanduser()
            where = f"private key file {path}"
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not a text file"
                raise TargetUnreachable(self.host, f"cannot read {where}: {reason}") from None
        else:
            return None
        passphrase = a.passphrase.get_secret_value() if a.passphrase else None
        for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return kind.from_private_key(io.StringIO(text), password=passphrase)
            except paramiko.PasswordRequiredException:
                raise TargetUnreachable(self.host, f"{where} is encrypted and no passphrase is set") from None
            except Exception:  # noqa: S112 - a key of another type, or a wrong passphrase: try the next type
                continue
        raise TargetUnreachable(
            self.host, f"cannot load {where}: not an ed25519/ECDSA/RSA key, or wrong passphrase"
        )

    def _reason(self, exc: BaseException) -> str:
        """A short, secret-free reason for a paramiko or socket error."""
        if isinstance(exc, _HostKeyUnknown):
            return f"host key verification failed: no key for {exc} in {self._known_hosts_path()}"
        if isinstance(exc, paramiko.BadHostKeyException):
            return (
                f"host key verification failed: the host key changed (expected {exc.expected_key.fingerprint}, "
                f"got {exc.key.fingerprint}); if that is expected, remove the old key from the known_hosts file"
            )
        if isinstance(exc, paramiko.BadAuthenticationType):
            return f"authentication failed for user {self.access.username} (server allows: {', '.join(exc.allowed_types)})"
        if isinstance(exc, paramiko.AuthenticationException):
            return f"authentication failed for user {self.access.username}"
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            codes = {getattr(e, "errno", None) for e in exc.errors.values()}
            return "connection refused" if errno.ECONNREFUSED in codes else "host unreachable"
        if isinstance(exc, socket.gaierror):
            return "cannot resolve host name"
        if isinstance(exc, TimeoutError):
            return "timed out"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError):
            return "connection closed by the host"
        if isinstance(exc, OSError):
            return (exc.strerror or str(exc) or type(exc).__name__).lower()
        cause = exc.__cause__ or exc.__context__
        message = str(exc)
        if message.startswith("Error reading SSH protocol banner"):
            if isinstance(cause, EOFError | ConnectionResetError):
                return "connection closed by the host before the SSH banner"
            return "timed out waiting for the SSH banner (is an SSH server listening on that port?)"
        if message == "No existing session":
            return "timed out during SSH negotiation"
        return self._scrub(f"ssh error: {message or type(exc).__name__}")

    def _scrub(self, text: str) -> str:
        """Mask any secret of the block that a library message might echo."""
        for secret in (self.access.password, self.access.passphrase, self.access.private_key):
            if secret is not None and secret.get_secret_value():
                text = text.replace(secret.get_secret_value(), "**********")
        return text

    # --- commands --------------------------------------------------------------------------------------

    def remote_argv(
        self, argv: list[str], *, timeout: float, as_user: str | None, env: dict[str, str]
    ) -> list[str]:
        """The argument list the host runs: ``timeout``, then the user switch, then ``env``, then ``argv``."""
        out = ["timeout", f"--kill-after={_seconds(_KILL_AFTER)}", _seconds(timeout)]
        if as_user and as_user != self.access.username:
            if not _USER_NAME.match(as_user):
                raise ValueError(f"not a user name: {as_user!r}")
            if self.access.username == "root":
                out += ["runuser", "-u", as_user, "--"]
            elif self.access.sudo:
                out += ["sudo", "-n", "-u", as_user, "--"]
            else:
                raise TargetUnreachable(
                    self.host, f"cannot run as {as_user}: sudo is off in the SSH access block"
                )
        if env:
            bad = sorted(k for k in env if not _ENV_NAME.match(k))
            if bad:
                raise ValueError(f"not environment variable names: {', '.join(bad)}")
            out += ["env", *(f"{k}={v}" for k, v in env.items())]
        return out + argv

    def _run(
        self, argv: list[str], *, timeout: float, as_user: str | None, env: dict[str, str], stdin: str | None
    ) -> tuple[int, str, str]:
        # ``cd /`` like LocalTransport's cwd: a command run as postgres must not start in root's home.
        command = "cd / && " + shlex.join(self.remote_argv(argv, timeout=timeout, as_user=as_user, env=env))
        log.debug("%s: ssh %s", self.host, shlex.join(argv))
        channel = self._session()
        try:
            return self._exchange(channel, command, timeout, stdin)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetUnreachable(self.host, f"ssh: connection lost: {self._reason(exc)}") from None
        finally:
            channel.close()

    def _session(self) -> paramiko.Channel:
        """A new channel; a connection that died unnoticed (host rebooted) is reopened once."""
        for attempt in (1, 2):
            ssh = self.connect()
            try:
                return ssh.open_session(timeout=self.access.connect_timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self.close()
                if attempt == 2:
                    raise TargetUnreachable(
                        self.host, f"ssh: cannot open a session: {self._reason(exc)}"
                    ) from None
        raise AssertionError("unreachable")

    def _exchange(
        self, channel: paramiko.Channel, command: str, timeout: float, stdin: str | None
    ) -> tuple[int, str, str]:
        """Run ``command`` on ``channel``: feed stdin, collect stdout/stderr and the exit status by a deadline."""
        started = time.monotonic()
        deadline = started + timeout + _GRACE
        channel.exec_command(command)
        pending = (stdin or "").encode()
        if not pending:
            channel.shutdown_write()
        out, err = bytearray(), bytearray()
        while True:
            while channel.recv_ready():
                out += channel.recv(_CHUNK)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
            if pending and channel.send_ready():
                try:
                    pending = pending[channel.send(pending[:_CHUNK]) :]
                except OSError:  # the command exited without reading all of stdin, like a closed pipe
                    pending = b""
                if not pending and not channel.closed:
                    channel.shutdown_write()
            drained = not channel.recv_ready() and not channel.recv_stderr_ready()
            if drained and (channel.eof_received or channel.closed) and channel.exit_status_ready():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return 124, _text(out), (_text(err) + f"\ntimed out after {timeout:g}s").strip()
            if pending:
                time.sleep(min(remaining, 0.01))  # readiness to send has no file descriptor to wait on
            elif channel.eof_received or channel.closed:
                channel.status_event.wait(min(remaining, 0.5))
            else:
                select.select([channel], [], [], min(remaining, 0.5))
        if not channel.status_event.is_set() or channel.exit_status < 0:
            ssh = channel.get_transport()
            if ssh is None or not ssh.is_active():
                raise EOFError("connection closed during the command")
        rc = channel.recv_exit_status()
        stderr = _text(err)
        # The remote ``timeout`` exits 124 after TERM; after KILL it dies with its process group (137, or -1:
        # paramiko ignores sshd's exit-signal, so any command killed by a signal reports -1).
        if rc in (124, 137, -1) and time.monotonic() - started >= timeout:
            rc, stderr = 124, (stderr + f"\ntimed out after {timeout:g}s").strip()
        return rc, _text(out), stderr


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")
