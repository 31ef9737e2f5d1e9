"""drift_report against the lab's real servers, with the shipped catalog."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pandas as pd
import pytest
import yaml
from pydantic import SecretStr

from blocks.postgres import PostgresCredentials
from cli.main import main
from flows.drift import DriftFound, drift_report
from flows.patch_wave import WaveParameters, patch_wave
from flows.scan import inventory_scan

TODAY = dt.date(2026, 11, 24)


def rows_by_target(result) -> dict[str, dict]:
    return {r["target"]: r for r in result.rows}


def test_statuses_for_each_lab_target(lab):
    result = drift_report(str(lab.inventory_path), str(lab.policy_path), on=TODAY)
    rows = rows_by_target(result)
    assert {t: r["status"] for t, r in rows.items()} == {
        "pg-orders-1": "behind",
        "pg-orders-2": "behind",
        "pg-billing": "behind",
        "pg-analytics": "compliant",
    }
    # releases behind come from the catalog (15.19 is in it; 15.20 is only approved by the policy)
    assert rows["pg-orders-1"]["releases_behind"] == 2 and rows["pg-orders-1"]["approved"] == "15.20"
    assert rows["pg-billing"]["releases_behind"] == 15  # 15.6 … 15.19 from the catalog, plus 15.20
    assert str(rows["pg-analytics"]["eol"]) == "2028-11-09"
    # evidence for auditors: CSV and a self-contained HTML page
    csv = pd.read_csv(result.csv)
    assert list(csv["target"]) == ["pg-orders-1", "pg-orders-2", "pg-billing", "pg-analytics"]
    page = result.html.read_text()
    assert page.startswith("<!doctype html>") and "<style>" in page and "http" not in page.split("<body>")[0]
    assert result.non_compliant == 3


def test_major_past_end_of_life(lab):
    result = drift_report(str(lab.inventory_path), str(lab.policy_path), on=dt.date(2028, 1, 10))
    rows = rows_by_target(result)
    assert rows["pg-billing"]["status"] == "eol"  # PostgreSQL 15's final release is planned 2027-11-11
    assert rows["pg-analytics"]["status"] != "eol"


def test_unreachable_target_is_reported_and_others_are_assessed(lab):
    lab.node("pg-analytics").stop()
    try:
        result = drift_report(str(lab.inventory_path), str(lab.policy_path), on=TODAY)
    finally:
        lab.node("pg-analytics").start()
    rows = rows_by_target(result)
    assert rows["pg-analytics"]["status"] == "unreachable"
    assert rows["pg-analytics"]["detail"] == "unreachable: connection refused"
    assert rows["pg-orders-1"]["status"] == "behind"


def test_fail_on_drift_for_pipelines(lab, capsys):
    args = [
        "report",
        "--inventory",
        str(lab.inventory_path),
        "--policy",
        str(lab.policy_path),
        "--on",
        "2026-11-24",
    ]
    assert main([*args, "--fail-on-drift"]) == 1
    assert main(args) == 0
    assert "pg-billing" in capsys.readouterr().out
    with pytest.raises(DriftFound, match="3 of 4 targets are not compliant"):
        drift_report(str(lab.inventory_path), str(lab.policy_path), on=TODAY, fail_on_drift=True)


def test_a_secret_never_reaches_logs_reports_or_artifacts(lab, dbpatch_home, caplog, capsys):
    secret = lab.password()
    caplog.set_level("DEBUG")
    drift_report(str(lab.inventory_path), str(lab.policy_path), on=TODAY)
    patch_wave(
        WaveParameters(inventory_path=str(lab.inventory_path), policy_path=str(lab.policy_path), dry_run=True)
    )
    # a wrong password: the error names the failure, never the password tried
    PostgresCredentials(user="postgres", password=SecretStr("wrong-" + secret), sslmode="disable").save(
        "lab-postgres", overwrite=True
    )
    try:
        facts = inventory_scan(str(lab.inventory_path), targets=["pg-billing"])
    finally:
        lab.save_blocks()
    assert facts[0].error == "unreachable: authentication failed"
    captured = capsys.readouterr()
    texts = [caplog.text, captured.out, captured.err]
    for path in dbpatch_home.rglob("*"):
        if path.is_file() and "secrets" not in path.parts and "nodes" not in path.parts:
            texts.append(path.read_text(errors="replace"))
    texts += [str(a.data) + str(a.description) for a in asyncio.run(_artifacts())]
    assert len(texts) > 10
    assert not [t for t in texts if secret in t]


async def _artifacts():
    from prefect import get_client

    async with get_client() as client:
        return await client.read_artifacts()


def test_the_catalog_learns_15_20_from_the_hosts_package_source(lab, monkeypatch, tmp_path):
    from dbpatch.models import Engine
    from flows.catalog import learn_from_hosts
    from tasks.catalog import load_catalog

    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path))  # a private catalog overlay
    assert load_catalog().release(Engine.POSTGRESQL, "15.20") is None  # the shipped snapshot stops in August
    sentences = learn_from_hosts(str(lab.inventory_path))
    learned = load_catalog().release(Engine.POSTGRESQL, "15.20")
    assert learned is not None and learned.source == "lab" and learned.date is None  # installable, not dated
    assert learned.dated_by == "seen on host (lab), date unknown"
    assert any(s.startswith("postgresql (lab):") for s in sentences)
    assert (
        learn_from_hosts(str(lab.inventory_path))
        and load_catalog().release(Engine.POSTGRESQL, "15.20") == learned
    )


@pytest.fixture
def cluster_lab(make_lab, lab):
    """A fresh primary + standby (pt-1, pt-2) to break; the session lab's credentials block is put back after."""
    from tests.patching.conftest import CLUSTER

    yield make_lab(topology=CLUSTER)
    lab.save_blocks()


def test_a_stopped_standby_makes_its_cluster_unhealthy(cluster_lab, capsys):
    lab = cluster_lab
    lab.node("pt-2").stop()
    result = drift_report(str(lab.inventory_path), str(lab.policy_path), on=TODAY)
    rows = rows_by_target(result)
    assert result.health["pt"].status.value == "unhealthy"
    assert {r["health"] for r in rows.values()} == {"unhealthy"}
    assert rows["pt-1"]["health_detail"] == "unhealthy: pt-2: unreachable: connection refused"
    assert rows["pt-2"]["version"] == "unknown (stopped)" and rows["pt-2"]["status"] == "unreachable"
    assert result.non_compliant == 2
    # in every output: no nan/None, the health column and its reason in the CSV, the HTML and the artifact
    csv = result.csv.read_text()
    assert "health,releases_behind" in csv.splitlines()[0] and "pt-2: unreachable: connection refused" in csv
    assert not [w for w in ("nan", "None") if w in csv or w in result.html.read_text()]
    assert '<td class="s-unhealthy">unhealthy</td>' in result.html.read_text()
    table = asyncio.run(_artifact_table("drift-report"))
    assert {r["target"]: r["health"] for r in table} == {"pt-1": "unhealthy", "pt-2": "unhealthy"}
    args = [
        "report",
        "--inventory",
        str(lab.inventory_path),
        "--policy",
        str(lab.policy_path),
        "--fail-on-drift",
    ]
    assert main([*args, "--on", "2026-11-24"]) == 1
    assert "nan" not in capsys.readouterr().out


def test_two_primaries_make_their_cluster_unhealthy_even_when_compliant(cluster_lab):
    import psycopg

    lab = cluster_lab
    standby = lab.node("pt-2")
    with psycopg.connect(
        host="127.0.0.1", port=standby.port, user="postgres", password=lab.password(), dbname="postgres"
    ) as conn:
        assert conn.execute("select pg_promote(true, 60)").fetchone() == (True,)
    on = dt.date(2026, 11, 24)
    result = drift_report(str(lab.inventory_path), str(lab.policy_path), on=on)
    rows = rows_by_target(result)
    assert [rows[t]["role"] for t in ("pt-1", "pt-2")] == ["primary", "primary"]
    assert {r["health_detail"] for r in rows.values()} == {"unhealthy: 2 primaries: pt-1, pt-2"}
    assert result.non_compliant == 2
    # a version verdict of compliant does not hide it: 15.18 within max_behind 5 is still not compliant overall
    policy = yaml.safe_load(lab.policy_path.read_text())
    policy["baselines"]["postgresql"]["15"]["max_behind"] = 5
    lenient = lab.policy_path.with_name("lenient.yaml")
    lenient.write_text(yaml.safe_dump(policy))
    result = drift_report(str(lab.inventory_path), str(lenient), on=on)
    assert {r["status"] for r in result.rows} == {"compliant"} and result.non_compliant == 2
    with pytest.raises(DriftFound, match="2 of 2 targets are not compliant"):
        drift_report(str(lab.inventory_path), str(lenient), on=on, fail_on_drift=True)


async def _artifact_table(key: str) -> list[dict]:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    data = found[0].data
    return list(json.loads(data) if isinstance(data, str) else data or [])


def test_learn_hosts_keeps_approved_as_of_and_destroy_forgets_what_the_lab_wrote(
    make_lab, lab, monkeypatch, tmp_path, capsys
):
    from cli.catalog import main as catalog_main
    from flows.catalog import learn_from_hosts
    from tests.patching.conftest import STANDALONE

    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path))  # a private catalog overlay
    fresh = make_lab(topology=STANDALONE)
    capsys.readouterr()
    try:
        approved = [
            "approved",
            "postgresql",
            "15",
            "--on",
            "2026-11-24",
            "--json",
            "--policy",
            str(fresh.policy_path),
        ]
        assert catalog_main(approved) == 0
        before = json.loads(capsys.readouterr().out)
        assert learn_from_hosts(str(fresh.inventory_path))  # the lab's package source offers 15.20
        capsys.readouterr()
        assert catalog_main(approved) == 0
        after = json.loads(capsys.readouterr().out)
    finally:
        lab.save_blocks()
    assert (
        (after["approved"], after["release_date"])
        == (before["approved"], before["release_date"])
        == ("15.20", None)
    )
    assert after["release_date_source"] == "seen on host (lab), date unknown"
    overlay = tmp_path / "catalog" / "releases.json"
    assert [r["source"] for r in json.loads(overlay.read_text())["releases"]] == ["lab"]
    fresh.down(destroy=True)
    assert not fresh.root.exists()  # inventory, policy, secrets, state file, nodes: all gone
    assert json.loads(overlay.read_text())["releases"] == []
    assert "1 catalog entries learned from the lab removed" in capsys.readouterr().out
