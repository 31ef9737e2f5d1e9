"""Property-based fuzzing of the loader: mutations of the valid corpus files (wrong types, missing, unknown and
duplicate keys, unicode, control characters, huge and negative numbers, deep nesting, alias bombs, broken
bytes). Every file is either accepted or refused with ``ConfigError`` lines that each name the file; any other
exception (a traceback for the user) fails the test. ``--hypothesis-show-statistics`` prints the counts."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from dbpatch import loader
from dbpatch.errors import ConfigError
from dbpatch.models import load_inventory, load_policy
from tests.models.corpus import INVENTORY, POLICY

BASE = {"inventory": loader.parse(INVENTORY, "-")[0], "policy": loader.parse(POLICY, "-")[0]}
WORK = Path(tempfile.mkdtemp(prefix="dbpatch-fuzz-"))
SETTINGS = settings(
    max_examples=500,
    deadline=dt.timedelta(seconds=10),  # generous: a file is checked in milliseconds
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TRICKY = [
    "22:00",
    "2026-12-24",
    "yes",
    "no",
    "on",
    "off",
    "null",
    "~",
    "0x1F",
    "0o17",
    "1e3",
    "15.20",
    "7.0",
    "../..",
    "/etc/passwd",
    "/var/lib/../x",
    "a\nb",
    "pg-prod\n",
    "MSSQL$X",
    "FREQ=BOGUS",
    "FREQ=MINUTELY",
    "DTSTART:20260101T000000",
    "America",
    "Europe/Berlin",
    "UTC",
    "101%",
    "-1%",
    "0",
    "",
    " ",
    "\t",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "ünïcödé",
    "日本語",
    "\ud7ff",
    "𝔘",
    "\ufeff",
]
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**31, 2**63, 10**40, -(10**40)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=30),
    st.sampled_from(TRICKY),
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=12), kids, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def mutate_data(data: st.DataObject, doc: Any) -> Any:
    """One to three structural mutations at random places of the parsed document."""
    doc = _copy(doc)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths), label="path")
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        kind = data.draw(
            st.sampled_from(["replace", "delete", "unknown key", "rename", "duplicate", "nest", "tricky"]),
            label="kind",
        )
        if kind == "replace":
            parent[key] = data.draw(VALUES, label="value")
        elif kind == "tricky":
            parent[key] = data.draw(st.sampled_from(TRICKY), label="tricky")
        elif kind == "delete":
            del parent[key]
        elif kind == "unknown key" and isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=12), label="new key")] = data.draw(VALUES)
        elif kind == "rename" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(TRICKY + [str(key).upper(), f"{key}s"]))] = parent.pop(key)
        elif kind == "duplicate" and isinstance(parent, list):
            parent.append(_copy(parent[key]))
        elif kind == "nest":
            parent[key] = _nest(parent[key], data.draw(st.integers(1, 120), label="depth"))
    return doc


def mutate_text(data: st.DataObject, text: str) -> bytes:
    """Damage the YAML text itself: duplicated lines (duplicate keys), aliases, bombs, bytes, truncation."""
    lines = text.splitlines(keepends=True) or [""]
    kind = data.draw(
        st.sampled_from(
            ["none", "dup line", "bytes", "control", "truncate", "bomb", "alias", "indent", "deep"]
        ),
        label="text mutation",
    )
    if kind == "dup line":
        i = data.draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
    elif kind == "control":
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = (
            lines[i].rstrip("\n")
            + data.draw(st.sampled_from(["\x00", "\x07", "\x1b", "\x7f", "\x85"]))
            + "\n"
        )
    elif kind == "truncate":
        return "".join(lines).encode()[: data.draw(st.integers(0, len(text)))]
    elif kind == "bytes":
        raw = "".join(lines).encode()
        i = data.draw(st.integers(0, len(raw)))
        return raw[:i] + data.draw(st.binary(min_size=1, max_size=4)) + raw[i:]
    elif kind == "bomb":
        width = data.draw(st.integers(2, 12))
        levels = data.draw(st.integers(2, 9))
        bomb = ["a0: &a0 [" + ", ".join(["x"] * width) + "]\n"]
        for n in range(1, levels):
            bomb.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * width) + "]\n")
        lines += bomb
    elif kind == "alias":
        lines.insert(
            1,
            "    x: &anchor "
            + data.draw(st.sampled_from(["[*anchor]", "{a: *anchor}", "1", "*nothing"]))
            + "\n",
        )
    elif kind == "indent":
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = data.draw(st.sampled_from(["\t", " ", "   "])) + lines[i]
    elif kind == "deep":
        depth = data.draw(st.integers(30, 5000))
        lines.append("deep: " + "[" * depth + "]" * depth + "\n")
    return "".join(lines).encode("utf-8", "surrogatepass")


def _dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, RecursionError, UnicodeEncodeError):
        return yaml.safe_dump(doc, sort_keys=False)


def _check(kind: str, raw: bytes) -> str:
    """Load one file; refusals must be ConfigError lines naming the file. Returns 'ok' or 'refused'."""
    path = WORK / f"{kind}.yaml"
    path.write_bytes(raw)
    load = load_inventory if kind == "inventory" else load_policy
    try:
        load(path)
    except ConfigError as exc:
        assert exc.problems, raw[:200]
        for line in exc.problems:
            assert line.startswith(f"{kind}.yaml: "), line
            assert "\n" not in line and "Traceback" not in line, line
        return "refused"
    return "ok"


def _case(data: st.DataObject, kind: str) -> bytes:
    doc = mutate_data(data, BASE[kind]) if data.draw(st.booleans(), label="structural") else BASE[kind]
    return mutate_text(data, _dump(doc))


@SETTINGS
@given(st.data())
def test_fuzzed_inventories_are_accepted_or_refused_in_one_line_each(data):
    _check("inventory", _case(data, "inventory"))


@SETTINGS
@given(st.data())
def test_fuzzed_policies_are_accepted_or_refused_in_one_line_each(data):
    _check("policy", _case(data, "policy"))


@settings(SETTINGS, max_examples=150)
@given(st.data(), st.sampled_from(["inventory", "policy"]))
def test_fuzzed_files_through_dbpatch_validate_exit_0_or_2(data, kind):
    """The CLI path: exit 0, or exit 2 with every stderr line naming the bad file."""
    raw = _case(data, kind)
    files = {k: WORK / f"cli-{k}.yaml" for k in ("inventory", "policy")}
    files["inventory"].write_text(INVENTORY)
    files["policy"].write_text(POLICY)
    files[kind].write_bytes(raw)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["validate", "--inventory", str(files["inventory"]), "--policy", str(files["policy"])])
    lines = err.getvalue().splitlines()
    assert rc in (0, 2)
    if rc == 2:
        assert lines and all(line.startswith(f"cli-{kind}.yaml: ") for line in lines), lines
    else:
        assert all(line.startswith("warning: ") for line in lines), lines
