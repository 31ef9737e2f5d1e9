"""The new-build gate and catalog commands: exit codes, one-line messages, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.catalog import main

ROOT = Path(__file__).resolve().parents[2]
BASELINES = {
    "postgresql": {"15": {"approved": ["15.20"], "rejected": ["15.17"], "approve_after_days": 7}},
    "sqlserver": {"16.0": {"approve_after_days": 7, "max_behind": 1}},
}


@pytest.fixture
def policy(write_policy) -> Path:
    return write_policy(BASELINES)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_approved_prints_the_version_and_json(capsys, policy):
    assert run(capsys, "approved", "postgresql", "15", "--on", "2026-11-24") == (0, "15.20\n", "")
    code, out, _ = run(capsys, "approved", "sqlserver", "2022", "--on", "2026-08-01", "--json")
    assert code == 0
    assert json.loads(out) == {
        "engine": "sqlserver",
        "major": "16.0",
        "approved": "16.0.4265.3",
        "release_date": "2026-07-16",
        "release_date_source": "Microsoft KB321185 version history (2026-08-10)",
        "servicing_level": "CU26",
        "kb": ["KB5093420"],
        "as_of": "2026-08-01",
    }
    # the name of Microsoft's version-history article is never shown as if it were the build's KB
    assert "KB321185" not in json.dumps(json.loads(out)["kb"]) and '"source"' not in out


def test_approved_with_nothing_approved_exits_1(capsys, policy):
    code, out, err = run(capsys, "approved", "postgresql", "16", "--on", "2026-11-24", "--json")
    assert code == 1 and json.loads(out)["approved"] is None


def test_check_build_passes_the_approved_version(capsys, policy):
    code, out, _ = run(capsys, "check-build", "postgresql", "15.20", "--on", "2026-11-24")
    assert code == 0 and out.startswith("postgresql 15.20 is approved")


def test_check_build_refuses_an_old_version_with_one_line(capsys, policy):
    code, out, err = run(capsys, "check-build", "postgresql", "15.5", "--on", "2026-11-24")
    assert code == 1 and err == ""
    assert out.count("\n") == 1
    assert out.startswith("postgresql 15.5 is not approved: approved is 15.20 (")


def test_check_build_json_and_rejected(capsys, policy):
    code, out, _ = run(capsys, "check-build", "postgresql", "15.17", "--on", "2026-11-24", "--json")
    data = json.loads(out)
    assert code == 1
    assert (data["approved"], data["status"], data["approved_version"], data["as_of"]) == (
        False,
        "rejected",
        "15.20",
        "2026-11-24",
    )


def test_check_build_sqlserver_cu_tolerance(capsys, policy):
    # CU25 is one CU behind CU26 (approved from 2026-07-23) and itself approved: allowed by max_behind 1.
    assert run(capsys, "check-build", "sqlserver", "16.0.4255.1", "--on", "2026-08-01")[0] == 0
    code, out, _ = run(capsys, "check-build", "sqlserver", "16.0.4205.1", "--on", "2026-08-01")
    assert code == 1 and "6 CUs behind" in out


def test_check_build_from_spec(capsys, policy, tmp_path):
    spec = tmp_path / "build.yaml"
    spec.write_text("engine: postgresql\nversion: '15.20'\nname: pg15-image\n")
    assert run(capsys, "check-build", "--spec", str(spec), "--on", "2026-11-24")[0] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["check-build", "oracle", "19.3"],
            "error: unknown engine 'oracle' (one of: postgresql, mongodb, sqlserver)",
        ),
        (["check-build", "postgresql", "15.x"], "error: postgresql version '15.x': not a valid version"),
        (
            ["check-build", "postgresql", "15.20", "--on", "yesterday"],
            "error: --on: 'yesterday' is not a date",
        ),
        (["approved", "postgresql", "15.1"], "error: postgresql major '15.1': not a valid major"),
        (
            ["check-build", "postgresql", "15.20", "--policy", "/nonexistent/policy.yaml"],
            "error: /nonexistent/policy.yaml: file not found",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, policy, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(message)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("engine: oracle\nversion: '1.0'\n", "error: build.yaml: engine: must be one of"),
        ("engine: postgresql\n", "error: build.yaml: version: required field is missing"),
        (
            "engine: postgresql\nversion: '15.3.5'\n",
            "error: build.yaml: version: postgresql version '15.3.5'",
        ),
        ("engine: [postgresql\n", "error: build.yaml: line 2: invalid YAML"),
    ],
)
def test_bad_spec_file_is_exit_2(capsys, policy, tmp_path, spec, message):
    path = tmp_path / "build.yaml"
    path.write_text(spec)
    code, _, err = run(capsys, "check-build", "--spec", str(path))
    assert code == 2 and err.startswith(message), err


def test_gate_in_a_subprocess_has_no_traceback(policy, home):
    env = {**os.environ, "DBPATCH_HOME": str(home)}
    cmd = [
        sys.executable,
        "-c",
        "import sys; from cli.catalog import main; sys.exit(main(sys.argv[1:]))",
    ]
    bad = subprocess.run(
        [*cmd, "check-build", "mysql", "8.0"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
    ok = subprocess.run(
        [*cmd, "check-build", "postgresql", "15.20", "--json", "--on", "2026-11-24"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["approved"] is True


def test_catalog_show_learn_and_canary(capsys, policy, home, tmp_path):
    code, out, _ = run(capsys, "catalog", "show", "postgresql")
    assert code == 0 and "postgresql 14 " in out and "eol 2026-11-12" in out
    code, out, _ = run(capsys, "catalog", "show", "postgresql", "15", "--json", "--on", "2026-11-24")
    rows = json.loads(out)
    assert rows[-1]["version"] == "15.19" and rows[-1]["approved"] is True
    assert set(rows[-1]) == {
        "version",
        "release_date",
        "release_date_source",
        "servicing_level",
        "kb",
        "approved",
    }
    assert (rows[-1]["release_date"], rows[-1]["release_date_source"]) == (
        "2026-08-10",
        "endoflife.date release data (git tag date)",
    )
    madison = tmp_path / "madison.txt"
    madison.write_text(
        "postgresql-15 | 15.21-0+deb12u1 | http://deb.debian.org/debian bookworm/main amd64 Packages\n"
    )
    code, out, _ = run(
        capsys,
        "catalog",
        "learn",
        "postgresql",
        "--source",
        "apt",
        "--package",
        "postgresql-15",
        "--file",
        str(madison),
        "--on",
        "2026-11-24",
    )
    assert code == 0 and "added postgresql 15.21" in out
    code, out, _ = run(capsys, "catalog", "show", "postgresql", "15")
    assert out.splitlines()[0].split() == [
        "version",
        "released",
        "approved",
        "where",
        "the",
        "date",
        "comes",
        "from",
    ]
    assert out.splitlines()[-1].split() == [
        "15.21",
        "unknown",
        "seen",
        "on",
        "host",
        "(apt),",
        "date",
        "unknown",
    ]
    assert run(capsys, "catalog", "canary", "postgresql", "15.21", "--on", "2026-11-25")[0] == 0
    assert (home / "catalog" / "canary-validated.json").exists()


def test_catalog_refresh_command(capsys, home, fake_api):
    fake_api.routes["/api/mongodb.json"] = (
        200,
        [
            {
                "cycle": "8.0",
                "releaseDate": "2024-10-31",
                "eol": "2029-10-31",
                "latest": "8.0.30",
                "latestReleaseDate": "2026-09-01",
            }
        ],
    )
    code, out, _ = run(capsys, "catalog", "refresh", "--url", fake_api.url, "--engine", "mongodb")
    assert code == 0 and "added mongodb 8.0.30" in out
    fake_api.routes["/api/mongodb.json"] = (503, {})
    code, _, err = run(capsys, "catalog", "refresh", "--url", fake_api.url, "--engine", "mongodb")
    assert code == 1 and "HTTP 503" in err
