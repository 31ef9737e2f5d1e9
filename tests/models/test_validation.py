"""Malformed inventory and policy files: one line per problem naming file and field, exit 2, no traceback."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cli.main import main
from dbpatch.models import Engine, json_schemas, load_inventory, load_policy

GOOD_TARGET = """\
  - name: pg-a
    engine: postgresql
    environment: prod
    host: db1.example.com
    port: 5432
    credentials: pg-prod
    package_source: apt
"""

GOOD_POLICY = "baselines:\n  postgresql:\n    '15': {approved: ['15.20']}\n"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_good_files_load(tmp_path):
    inv = load_inventory(write(tmp_path, "inventory.yaml", "targets:\n" + GOOD_TARGET))
    assert inv.targets[0].engine is Engine.POSTGRESQL and inv.targets[0].cluster_name == "pg-a"
    policy = load_policy(write(tmp_path, "policy.yaml", GOOD_POLICY))
    assert policy.baseline(Engine.POSTGRESQL, "15").approved == ["15.20"]
    assert policy.thresholds.max_lag_bytes == 16 * 1024 * 1024 and policy.canary.bake_hours == 12


BAD_INVENTORIES = {
    "missing field": (
        GOOD_TARGET.replace("    port: 5432\n", ""),
        "inventory.yaml: line 9: targets[1].port: required field is missing",
    ),
    "unknown engine": (
        GOOD_TARGET.replace("postgresql", "oracle"),
        "inventory.yaml: line 10: targets[1].engine: must be one of: postgresql, mongodb or sqlserver",
    ),
    "bad port": (
        GOOD_TARGET.replace("5432", "70000"),
        "inventory.yaml: line 13: targets[1].port: must be 1..65535",
    ),
    "unknown key": (
        GOOD_TARGET + "    colour: red\n",
        "inventory.yaml: line 16: targets[1].colour: unknown key",
    ),
    "shell in host": (
        GOOD_TARGET.replace("db1.example.com", "'db1; rm -rf /'"),
        "inventory.yaml: line 12: targets[1].host: 'db1; rm -rf /' is not a valid host name or IP address",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INVENTORIES))
def test_bad_inventory_is_one_line_and_exit_2(tmp_path, capsys, case):
    body, expected = BAD_INVENTORIES[case]
    inv = write(tmp_path, "inventory.yaml", "targets:\n" + GOOD_TARGET.replace("pg-a", "pg-ok") + body)
    pol = write(tmp_path, "policy.yaml", GOOD_POLICY)
    assert main(["validate", "--inventory", inv, "--policy", pol]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [expected]


def test_bad_yaml(tmp_path, capsys):
    inv = write(tmp_path, "inventory.yaml", "targets:\n  - name: [unclosed\n")
    assert (
        main(["validate", "--inventory", inv, "--policy", write(tmp_path, "policy.yaml", GOOD_POLICY)]) == 2
    )
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("inventory.yaml: line ") and "invalid YAML" in line


def test_policy_errors_name_the_field(tmp_path, capsys):
    pol = write(
        tmp_path,
        "policy.yaml",
        """\
        baselines:
          postgresql:
            '15': {approved: ['15.20; rm -rf /'], approve_after_days: -3}
        thresholds: {max_lag_bytes: lots, surprise: 1}
        windows:
          - {name: w, timezone: Mars/Olympus}
        """,
    )
    assert (
        main(
            [
                "validate",
                "--inventory",
                write(tmp_path, "inventory.yaml", "targets:\n" + GOOD_TARGET),
                "--policy",
                pol,
            ]
        )
        == 2
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert (
        "policy.yaml: line 3: baselines.postgresql.15.approved[0]: '15.20; rm -rf /' is not a valid version (digits and dots, e.g. 15.20)"
        in lines
    )
    assert "policy.yaml: line 3: baselines.postgresql.15.approve_after_days: must be 0..3650" in lines
    assert "policy.yaml: line 4: thresholds.max_lag_bytes: must be a whole number, not 'lots'" in lines
    assert "policy.yaml: line 4: thresholds.surprise: unknown key" in lines
    assert "policy.yaml: line 6: windows[0].timezone: unknown IANA timezone 'Mars/Olympus'" in lines
    assert len(lines) == 5


def test_missing_file_and_no_traceback_from_the_real_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "validate", "--inventory", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{tmp_path / 'nope.yaml'}: file not found"
    assert "Traceback" not in proc.stderr


def test_ssh_access_requires_a_block(tmp_path, capsys):
    inv = write(tmp_path, "inventory.yaml", "targets:\n" + GOOD_TARGET + "    access: ssh\n")
    assert (
        main(["validate", "--inventory", inv, "--policy", write(tmp_path, "policy.yaml", GOOD_POLICY)]) == 2
    )
    assert capsys.readouterr().err.strip() == (
        "inventory.yaml: line 2: targets[0]: access 'ssh' needs host_access (the name of an SSH or WinRM block)"
    )


def test_json_schema_export(tmp_path):
    schemas = json_schemas()
    port = schemas["inventory"]["$defs"]["Target"]["properties"]["port"]
    assert port["minimum"] == 1 and port["maximum"] == 65535
    assert schemas["inventory"]["$defs"]["Target"]["additionalProperties"] is False
    assert main(["schema", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "policy.schema.json").is_file()


def test_a_version_the_catalog_does_not_know_is_a_warning_not_an_error(tmp_path, capsys):
    pol = write(tmp_path, "policy.yaml", "baselines:\n  postgresql:\n    '15': {approved: ['15.99']}\n")
    inv = write(tmp_path, "inventory.yaml", "targets:\n" + GOOD_TARGET)
    assert main(["validate", "--inventory", inv, "--policy", pol]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "warning: policy.yaml: baselines.postgresql.15.approved[0]: 15.99 is not in the release catalog "
        "(refresh it: dbpatch catalog refresh)"
    ]


def test_a_loaded_policy_dumps_and_loads_back_without_serializer_warnings(tmp_path):
    """Prefect hashes task inputs with ``model_dump(mode="json")``: times and dates must dump as such."""
    import warnings

    from tests.models.corpus import POLICY

    policy = load_policy(write(tmp_path, "policy.yaml", POLICY))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert policy.model_dump()["windows"][0]["start"] == dt.time(22, 0)
        assert type(policy).model_validate(policy.model_dump(mode="json")) == policy
