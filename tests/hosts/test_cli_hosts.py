"""``dbpatch lab hosts …`` is parsed onto the ``lab`` command without changing ``dbpatch lab up|down|status``."""

from __future__ import annotations

import pytest

from cli.main import build_parser


def test_lab_hosts_actions_parse_and_the_loopback_lab_is_unchanged(capsys):
    parser = build_parser()
    args = parser.parse_args(["lab", "hosts", "down", "--destroy", "--net", "127.0.13"])
    assert (args.action, args.hosts_action, args.destroy, args.net) == ("hosts", "down", True, "127.0.13")
    args = parser.parse_args(["lab", "up", "--base-port", "54000"])
    assert (args.action, args.hosts_action, args.base_port) == ("up", None, 54000)
    with pytest.raises(SystemExit):
        parser.parse_args(["lab", "hosts", "explode"])
    with pytest.raises(SystemExit):
        args = parser.parse_args(["lab", "up", "down"])
        args.func(args)
    assert "lab hosts down" in capsys.readouterr().err
