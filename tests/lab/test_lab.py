"""The lab: idempotent up, servers owned by the unprivileged user, a clear error for a taken port."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from dbpatch.errors import PatchError
from lab.lab import Lab, NodeSpec
from tests.conftest import _free_base_port


def postmaster_pid(node) -> int:
    return int((node.data / "postmaster.pid").read_text().splitlines()[0])


def test_second_up_reuses_what_runs(lab, capsys):
    before = {n.name: postmaster_pid(n) for n in lab.nodes()}
    lab.up()
    assert {n.name: postmaster_pid(n) for n in lab.nodes()} == before
    assert capsys.readouterr().out.count("already running") == len(before)


def test_servers_run_as_the_unprivileged_user(lab):
    for node in lab.nodes():
        owner = Path(f"/proc/{postmaster_pid(node)}").stat().st_uid
        expected = pwd.getpwnam("dbpatch").pw_uid if os.geteuid() == 0 else os.geteuid()
        assert owner == expected and owner != 0


def test_a_taken_port_is_a_clear_error():
    base = _free_base_port()
    root = Path(tempfile.mkdtemp(prefix="dbpatch-lab-", dir="/var/tmp"))
    root.chmod(0o755)
    lab = Lab(root=root / "lab", base_port=base, topology=(NodeSpec("solo", 0, "15.18", "dev"),))
    with socket.socket() as s:
        s.bind(("127.0.0.1", base))
        s.listen()
        with pytest.raises(PatchError, match=f"port {base} for solo is taken by another program"):
            lab.up()
    lab.down(destroy=True)
    shutil.rmtree(root, ignore_errors=True)
