"""Evidence an auditor can use: Markdown rendered in the HTML pages, provenance on every report, the plan's
steps with their commands, and a report for a run interrupted by Ctrl-C."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pandas as pd
import pytest

import flows.patch_wave
from cli.main import main
from dbpatch.state import FileStateStore, JournalRecord
from reports.markdown import to_html
from reports.publish import publish
from reports.run import steps_frame
from tasks.host.packages import HostCommand
from tasks.patching import ClusterRun, Outcome, Step, Strategy
from tests.models.corpus import INVENTORY, POLICY


def test_markdown_subset_renders_and_escapes():
    md = (
        "## Wave **prod**\n\nRun `dbpatch cycle` or see [the runbook](docs/run.md) and [x](javascript:alert(1)).\n\n"
        "| cluster | outcome |\n|---|---|\n| pg-orders | **patched** |\n| <script>x</script> | a \\| b |\n\n- one\n- two"
    )
    out = to_html(md)
    assert "<h2>Wave <strong>prod</strong></h2>" in out
    assert "<code>dbpatch cycle</code>" in out and '<a href="docs/run.md">the runbook</a>' in out
    assert "javascript:" not in re.findall(r'href="([^"]*)"', out).__str__()
    assert "<th>cluster</th><th>outcome</th>" in out and "<td><strong>patched</strong></td>" in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<ul><li>one</li><li>two</li></ul>" in out
    assert "**" not in out and "|---|" not in out


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DBPATCH_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("DBPATCH_REPORTS", str(tmp_path / "reports"))
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "policy.yaml").write_text(POLICY)
    return tmp_path / "inventory.yaml", tmp_path / "policy.yaml"


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_report_carries_its_provenance_inside_a_flow_run(files, prefect_harness):
    from prefect import flow, get_client

    from reports.provenance import provenance

    inventory, policy = files

    @flow(name="provenance-probe")
    def report() -> str:
        df = pd.DataFrame([{"target": "pg-orders-1", "status": "behind"}])
        return str(
            publish(
                df, key="prov-test", title="t", summary_md="**x**", provenance=provenance(inventory, policy)
            ).html
        )

    state = report(return_state=True)
    page = open(state.result(), encoding="utf-8").read()
    run_id = str(state.state_details.flow_run_id)
    for value in (
        sha(inventory),
        sha(policy),
        run_id,
        f"/flow-run/{run_id}</a>",
        "dbpatch_version",
        "operator",
    ):
        assert value in page, value
    assert "<strong>x</strong>" in page and "<pre>" not in page

    async def artifact():
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        only = ArtifactFilter(key=ArtifactFilterKey(any_=["prov-test-summary"]))
        async with (
            get_client() as client
        ):  # filtered by the server: a full suite leaves hundreds of artifacts
            return [
                a for a in await client.read_artifacts(artifact_filter=only) if a.key == "prov-test-summary"
            ]

    (art,) = artifact_list = asyncio.run(artifact())
    assert artifact_list and sha(policy) in art.data and run_id in art.data


def test_a_report_outside_a_run_still_says_who_and_which_version(tmp_path):
    page = open(
        publish(pd.DataFrame([{"a": 1}]), key="k", title="t", summary_md="s", reports_dir=tmp_path).html
    ).read()
    assert "dbpatch_version" in page and "operator" in page and "flow_run_id" in page


def test_a_plan_lists_every_planned_step_with_its_commands():
    step = Step(
        "pg-1",
        "install",
        "install 15.20",
        (HostCommand(("apt-get", "install", "-y", "postgresql-15=15.20-1"), "install"),),
    )
    run = ClusterRun(
        "pg",
        "postgresql",
        Strategy.IN_PLACE,
        "15.20",
        Outcome.PLANNED,
        plan=[Step("pg-1", "stop", "stop"), step],
    )
    df = steps_frame([run])
    assert list(df["step"]) == ["stop", "install"] and set(df["status"]) == {"planned"}
    assert df.iloc[1]["commands"] == "$ apt-get install -y postgresql-15=15.20-1"


def test_ctrl_c_still_writes_a_report_marked_interrupted(files, monkeypatch, capsys):
    inventory, policy = files
    store = FileStateStore()

    def interrupted(params):
        store.append("pg-orders", JournalRecord("run-1", "begin"))
        store.append(
            "pg-orders", JournalRecord("run-1", "intent", node="pg-orders-2", action="stop", detail="stop")
        )
        store.append(
            "pg-orders", JournalRecord("run-1", "result", node="pg-orders-2", action="stop", status="ok")
        )
        store.append(
            "pg-orders",
            JournalRecord("run-1", "intent", node="pg-orders-2", action="install", detail="install 15.20"),
        )
        raise KeyboardInterrupt

    monkeypatch.setattr(flows.patch_wave, "patch_wave", interrupted)
    rc = main(["patch", "--inventory", str(inventory), "--policy", str(policy), "--yes", "--ignore-windows"])
    assert rc == 130
    err = capsys.readouterr().err
    (path,) = re.findall(r"interrupted; report: (\S+\.html)", err)
    page = open(path, encoding="utf-8").read()
    assert "INTERRUPTED" in page and "(INTERRUPTED)" in page
    assert "interrupted in install on pg-orders-2" in page and "in progress when interrupted" in page
    assert "not started" in page  # mongo-cat: the run never reached it
    assert sha(policy) in page
    clusters = pd.read_csv(next((files[0].parent / "reports").glob("patch-run-*-clusters.csv")))
    assert dict(zip(clusters["cluster"], clusters["outcome"], strict=True))["pg-orders"] == "interrupted"
