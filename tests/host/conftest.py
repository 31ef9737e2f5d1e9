"""Fixtures for host transports: a real sshd on 127.0.0.1 (see ``tests.host.sshd``)."""

from tests.host.sshd import sshd  # noqa: F401 - the session fixture, re-exported for this package
