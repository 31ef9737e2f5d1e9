"""Prefect blocks that say how dbpatch reaches a database host: SSH (Linux) and WinRM (Windows, SQL Server).

A target's ``host_access`` names one of these blocks. Secrets are ``SecretStr``: the UI masks them and they
never appear in ``repr``, logs or error messages; transports read them only at connect time.
"""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

KnownHostsPolicy = Literal["strict", "accept-new", "insecure-ignore"]


class SshAccess(Block):
    """SSH access to Linux database hosts (used by ``tasks.host.ssh.SshTransport``).

    Authentication uses the private key (text or path) and/or the password given here; with neither, the
    worker's SSH agent and default keys (``~/.ssh/id_*``) are tried.
    """

    _block_type_name = "dbpatch SSH Access"
    _block_type_slug = "dbpatch-ssh-access"
    _description = "How dbpatch logs in to Linux database hosts over SSH to stop, patch and start databases."

    username: str = Field(min_length=1, description="SSH login user, e.g. 'dbpatch' (or 'root').")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port of the hosts.")
    private_key: SecretStr | None = Field(
        default=None, description="Private key text (OpenSSH or PEM format: ed25519, ECDSA or RSA)."
    )
    private_key_path: str | None = Field(
        default=None, description="Path of a private key file on the worker (alternative to private_key)."
    )
    passphrase: SecretStr | None = Field(default=None, description="Passphrase of an encrypted private key.")
    password: SecretStr | None = Field(
        default=None, description="Login password, when the hosts allow password authentication."
    )
    known_hosts: KnownHostsPolicy = Field(
        default="strict",
        description="Host key checking: 'strict' refuses hosts not in known_hosts_file; 'accept-new' records "
        "the key of a new host and refuses a changed one; 'insecure-ignore' checks nothing (labs only).",
    )
    known_hosts_file: str | None = Field(
        default=None, description="known_hosts file on the worker; default ~/.ssh/known_hosts."
    )
    connect_timeout: float = Field(
        default=10.0, gt=0, le=600, description="Seconds to wait for the TCP connection, banner and login."
    )
    sudo: bool = Field(
        default=True,
        description="Run commands as another OS user (e.g. postgres) with 'sudo -n -u USER --'; the login user "
        "needs passwordless sudo for that. A root login uses 'runuser' instead.",
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> SshAccess:
        if self.private_key is not None and self.private_key_path:
            raise ValueError("give private_key or private_key_path, not both")
        return self


class WinRmAccess(Block):
    """WinRM access to Windows hosts running SQL Server (for a pypsrp transport; not implemented yet).

    Fields only: ``tasks.host.factory.transport_for`` refuses ``access: winrm`` targets until that transport
    exists.
    """

    _block_type_name = "dbpatch WinRM Access"
    _block_type_slug = "dbpatch-winrm-access"
    _description = "How dbpatch reaches Windows SQL Server hosts over WinRM (PowerShell remoting)."

    username: str = Field(
        min_length=1, description="Windows account, e.g. 'CORP\\dbpatch' or 'dbpatch@corp.example'."
    )
    password: SecretStr = Field(description="Password of the Windows account.")
    port: int = Field(default=5986, ge=1, le=65535, description="WinRM port (5986 for HTTPS, 5985 for HTTP).")
    ssl: bool = Field(default=True, description="Use HTTPS; turn off only on isolated lab networks.")
    cert_validation: bool = Field(
        default=True,
        description="Validate the host's TLS certificate; turn off only for lab self-signed certs.",
    )
    auth: Literal["negotiate", "ntlm", "kerberos", "credssp"] = Field(
        default="negotiate", description="WinRM authentication protocol."
    )
