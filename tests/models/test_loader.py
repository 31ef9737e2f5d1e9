"""The strict YAML loader: bytes, size, depth, aliases, duplicate keys, YAML 1.2 scalars, line numbers; and a
few runs of the real command to prove exit status 2 and no traceback."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from dbpatch import loader
from dbpatch.errors import ConfigError
from dbpatch.models import load_policy
from tests.models.corpus import INVENTORY, POLICY

ROOT = Path(__file__).resolve().parents[2]


def refused(text: str | bytes, tmp_path: Path, name: str = "f.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as exc:
        loader.load(path)
    (line,) = exc.value.problems
    return line


def test_yaml_1_2_scalars(tmp_path):
    data, lines = loader.parse(
        "a: 22:00\nb: yes\nc: on\nd: 0755\ne: 0o17\nf: 2026-12-24\ng: true\nh: ~\ni: 1.5\nj: '5'\nk: !!str 5\n",
        "x",
    )
    assert data == {
        "a": "22:00",  # YAML 1.1: 1320
        "b": "yes",  # YAML 1.1: True
        "c": "on",
        "d": 755,  # YAML 1.1: octal 493
        "e": 15,
        "f": "2026-12-24",  # a date is parsed by the model, which also refuses numbers
        "g": True,
        "h": None,
        "i": 1.5,
        "j": "5",
        "k": "5",
    }
    assert lines[("d",)] == 4 and lines[()] == 1


def test_unquoted_evening_start_is_22_00_not_00_22(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.replace("start: '22:00'", "start: 22:00"))
    assert load_policy(path).windows[0].start == dt.time(22, 0)


def test_not_utf8_names_the_line(tmp_path):
    line = refused("a: 1\nname: caf\xe9\n".encode("latin-1"), tmp_path)
    assert line == "f.yaml: line 2: not UTF-8 text (byte 0xe9); save the file as UTF-8"


def test_bom_is_accepted(tmp_path):
    (tmp_path / "f.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert loader.load(tmp_path / "f.yaml")[0] == {"a": 1}


def test_size_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:  # sparse: 50 MB that take no disk and no time to write
        fh.truncate(50 * 1024 * 1024)
    with pytest.raises(ConfigError) as exc:
        loader.load(path)
    assert exc.value.problems == ["huge.yaml: file is 50.0 MiB; the limit is 2 MiB"]


def test_duplicate_keys_name_both_lines(tmp_path):
    assert (
        refused("a:\n  host: x\n  port: 1\n  host: y\n", tmp_path)
        == "f.yaml: line 4: duplicate key 'host' (first on line 2)"
    )


def test_depth_limit(tmp_path):
    assert refused("a: " + "[" * 5000 + "]" * 5000, tmp_path).startswith("f.yaml: line 1: ")
    block = "a:\n" + "".join(" " * (2 * i + 2) + f"k{i}:\n" for i in range(100))
    assert (
        refused(block, tmp_path)
        == f"f.yaml: line {loader.MAX_DEPTH}: nested deeper than {loader.MAX_DEPTH} levels"
    )


def test_alias_bomb_is_counted_not_expanded(tmp_path):
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]\n" for n in range(1, 9)
    )
    assert refused(bomb, tmp_path) == (
        "f.yaml: line 6: more than 200000 values once aliases are expanded (an alias bomb?)"
    )


def test_small_aliases_are_fine(tmp_path):
    data, _ = loader.parse("base: &b {port: 5432}\nother: *b\n", "x")
    assert data == {"base": {"port": 5432}, "other": {"port": 5432}}


def test_recursive_alias(tmp_path):
    assert (
        refused("a: &x [1, *x]\n", tmp_path)
        == "f.yaml: line 1: an alias refers to the value that contains it"
    )


def test_tags_and_merge_keys_are_refused(tmp_path):
    assert refused("a: !!python/name:os.system x\n", tmp_path).endswith("is not supported")
    assert (
        refused("a: !!binary aGk=\n", tmp_path)
        == "f.yaml: line 1: tag 'tag:yaml.org,2002:binary' is not supported"
    )
    assert refused("b: &b {x: 1}\na:\n  <<: *b\n", tmp_path).endswith(
        "merge keys (<<) are not supported; write the keys out"
    )


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        loader.load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not a regular file"):
        loader.load(tmp_path)


def test_empty_file_is_no_data(tmp_path):
    (tmp_path / "inventory.yaml").write_text("# nothing yet\n")
    from dbpatch.models import load_inventory

    with pytest.raises(ConfigError) as exc:
        load_inventory(tmp_path / "inventory.yaml")
    assert exc.value.problems == ["inventory.yaml: (top level): must be a mapping"]


BAD_FILES = {
    "latin-1": (
        "inventory",
        INVENTORY.replace("db1.example.com", "dé1").encode("latin-1"),
        "inventory.yaml: line 6: not UTF-8",
    ),
    "deep": ("inventory", ("targets: " + "[" * 100_000 + "]" * 100_000).encode(), "inventory.yaml: line 1: "),
    "zone folder": (
        "policy",
        POLICY.replace("Europe/Berlin", "America").encode(),
        "policy.yaml: line 23: windows[0].timezone: unknown IANA timezone 'America'",
    ),
    "credentials newline": (
        "inventory",
        INVENTORY.replace("credentials: pg-prod", 'credentials: "pg-prod\\n"', 1).encode(),
        "inventory.yaml: line 8: targets[0].credentials: 'pg-prod\\n'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_the_real_command_exits_2_with_one_line_and_no_traceback(tmp_path, case):
    kind, raw, start = BAD_FILES[case]
    files = {"inventory": tmp_path / "inventory.yaml", "policy": tmp_path / "policy.yaml"}
    files["inventory"].write_text(INVENTORY)
    files["policy"].write_text(POLICY)
    files[kind].write_bytes(raw)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "validate",
            "--inventory",
            str(files["inventory"]),
            "--policy",
            str(files["policy"]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(start)


def test_the_real_command_refuses_a_50_mb_file_by_its_size(tmp_path):
    huge = tmp_path / "inventory.yaml"
    with huge.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "validate", "--inventory", str(huge)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert (proc.returncode, proc.stderr) == (2, "inventory.yaml: file is 50.0 MiB; the limit is 2 MiB\n")
