"""Refreshing the catalog from an HTTP API on 127.0.0.1 and from package-source output."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest

from dbpatch.errors import ConfigError
from dbpatch.models import Engine
from tasks.catalog import (
    SourceUnavailable,
    approved_release,
    learn_installable,
    load_catalog,
    refresh_from_endoflife,
    versions_from_package_output,
)

PG, MONGO, SQL = Engine.POSTGRESQL, Engine.MONGODB, Engine.SQLSERVER
TODAY = dt.date(2026, 11, 24)
PG_CYCLES = [
    {
        "cycle": "15",
        "releaseDate": "2022-10-13",
        "eol": "2027-11-11",
        "latest": "15.20",
        "latestReleaseDate": "2026-11-13",
    },
    {
        "cycle": "14",
        "releaseDate": "2021-09-30",
        "eol": "2026-11-12",
        "latest": "14.25",
        "latestReleaseDate": "2026-11-13",
    },
]


def overlay_bytes(home) -> bytes | None:
    path = home / "catalog" / "releases.json"
    return path.read_bytes() if path.exists() else None


def test_refresh_adds_versions_from_http_api(home, fake_api, make_policy):
    fake_api.routes["/api/postgresql.json"] = (200, PG_CYCLES)
    policy = make_policy({"postgresql": {"15": {"approve_after_days": 7}}})
    assert approved_release(policy, load_catalog(home), PG, "15", TODAY).version == "15.19"

    result = refresh_from_endoflife(fake_api.url, [PG], home=home, learned=TODAY)

    assert fake_api.hits == ["/api/postgresql.json"]
    assert result.added == ((PG, "15.20"), (PG, "14.25"))
    catalog = load_catalog(home)
    new = catalog.release(PG, "15.20")
    assert (new.date, new.source) == (dt.date(2026, 11, 13), "127.0.0.1")
    assert approved_release(policy, catalog, PG, "15", TODAY).version == "15.20"
    assert "added postgresql 15.20, postgresql 14.25" in result.sentence
    # A second refresh with the same answer changes nothing.
    before = overlay_bytes(home)
    again = refresh_from_endoflife(fake_api.url, [PG], home=home, learned=TODAY)
    assert again.added == () and overlay_bytes(home) == before


def test_refresh_accepts_the_v1_shape_and_sqlserver_names(home, fake_api):
    fake_api.routes["/api/postgresql.json"] = (
        200,
        {
            "schema_version": "1.2.0",
            "result": {
                "name": "postgresql",
                "releases": [
                    {
                        "name": "16",
                        "releaseDate": "2023-09-14",
                        "isEol": False,
                        "eolFrom": "2028-11-09",
                        "latest": {"name": "16.16", "date": "2026-11-13"},
                    }
                ],
            },
        },
    )
    fake_api.routes["/api/mssqlserver.json"] = (
        200,
        [
            {
                "cycle": "16.0",
                "releaseDate": "2022-11-16",
                "support": "2028-01-11",
                "eol": "2033-01-11",
                "latest": "16.0.4275.1 CU27",
                "latestReleaseDate": "2026-09-18",
            },
            {
                "cycle": "13.0-sp3",
                "releaseDate": "2021-09-15",
                "eol": "2026-07-14",
                "latest": "13.0.6500.1",
                "latestReleaseDate": "2026-07-14",
            },
        ],
    )
    result = refresh_from_endoflife(fake_api.url, [PG, SQL], home=home, learned=TODAY)
    assert result.added == ((PG, "16.16"), (SQL, "16.0.4275.1"))  # 13.0.6500.1 is already known
    cu27 = load_catalog(home).release(SQL, "16.0.4275")
    assert (cu27.name, cu27.date) == ("CU27", dt.date(2026, 9, 18))


@pytest.mark.parametrize(
    ("cycles", "problem"),
    [
        ([{**PG_CYCLES[0], "latest": "15.x"}], "[0].latest: '15.x' is not a postgresql 15 version"),
        ([{**PG_CYCLES[0], "latest": "16.1"}], "[0].latest: '16.1' is not a postgresql 15 version"),
        (
            [{**PG_CYCLES[0], "latestReleaseDate": "13/11/2026"}],
            "[0].latestReleaseDate: '13/11/2026' is not a date",
        ),
        ([{**PG_CYCLES[0], "cycle": "fifteen"}], "[0].cycle: 'fifteen' is not a postgresql major"),
        ({"cycles": []}, "(top level): must be a non-empty list of release cycles"),
        ([], "(top level): must be a non-empty list of release cycles"),
    ],
)
def test_malformed_source_leaves_the_overlay_unchanged(home, fake_api, cycles, problem):
    fake_api.routes["/api/postgresql.json"] = (200, [PG_CYCLES[1]])
    refresh_from_endoflife(fake_api.url, [PG], home=home, learned=TODAY)
    before = overlay_bytes(home)
    assert before is not None

    fake_api.routes["/api/postgresql.json"] = (200, cycles)
    with pytest.raises(ConfigError) as exc:
        refresh_from_endoflife(fake_api.url, [PG], home=home, learned=TODAY)

    assert any(problem in line for line in exc.value.problems), exc.value.problems
    assert all(line.startswith(f"{fake_api.url}/api/postgresql.json: ") for line in exc.value.problems)
    assert overlay_bytes(home) == before
    assert load_catalog(home).release(PG, "15.20") is None


def test_one_bad_engine_means_nothing_is_written(home, fake_api):
    fake_api.routes["/api/postgresql.json"] = (200, PG_CYCLES)
    fake_api.routes["/api/mongodb.json"] = (200, b"<html>not json</html>")
    with pytest.raises(ConfigError, match="not valid JSON"):
        refresh_from_endoflife(fake_api.url, [PG, MONGO], home=home, learned=TODAY)
    assert overlay_bytes(home) is None


def test_http_errors_say_whether_they_are_transient(home, fake_api):
    fake_api.routes["/api/postgresql.json"] = (503, {"error": "busy"})
    with pytest.raises(SourceUnavailable) as exc:
        refresh_from_endoflife(fake_api.url, [PG], home=home)
    assert exc.value.transient and "HTTP 503" in str(exc.value)
    with pytest.raises(SourceUnavailable) as exc:  # no route: 404 is permanent
        refresh_from_endoflife(fake_api.url, [MONGO], home=home)
    assert not exc.value.transient
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(SourceUnavailable) as exc:
        refresh_from_endoflife(closed, [PG], home=home, timeout=2)
    assert exc.value.transient
    assert overlay_bytes(home) is None


def test_credentials_in_the_url_never_reach_messages(home, fake_api):
    url = fake_api.url.replace("http://", "http://user:s3cret@") + "?token=abc"
    fake_api.routes["/api/postgresql.json"] = (200, [{**PG_CYCLES[0], "latest": "15.x"}])
    with pytest.raises(ConfigError) as exc:
        refresh_from_endoflife(url.split("?")[0], [PG], home=home)
    assert "s3cret" not in str(exc.value) and "user" not in str(exc.value)


APT = """\
postgresql-15 | 15.20-0+deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
postgresql-15 | 15.19-0+deb12u1 | http://deb.debian.org/debian bookworm/main amd64 Packages
postgresql-16 | 16.16-0+deb12u1 | http://deb.debian.org/debian bookworm/main amd64 Packages
"""
DNF = """\
Available Packages
mongodb-org-server.x86_64      7.0.41-1.el9      mongodb-org-7.0
mongodb-org-server.x86_64      7.0.40-1.el9      mongodb-org-7.0
"""


def test_learn_from_apt_madison(home):
    versions = versions_from_package_output("apt", APT, "postgresql-15")
    assert sorted(versions) == ["15.19", "15.20"]
    learned = dt.date(2026, 11, 20)
    result = learn_installable(PG, versions, "apt", learned=learned, home=home)
    assert result.added == ((PG, "15.20"),)  # 15.19 is already in the catalog
    r = load_catalog(home).release(PG, "15.20")
    assert (r.source, r.date, r.dated_by) == ("apt", None, "seen on host (apt), date unknown")
    assert load_catalog(home).release(PG, "15.19").source == "endoflife.date"  # shipped data kept
    stored = json.loads((home / "catalog" / "releases.json").read_text())["releases"]
    assert [(x["version"], x["date"], x["learned"]) for x in stored] == [("15.20", None, "2026-11-20")]


def test_learning_from_hosts_never_dates_or_redates_a_release(home, fake_api, make_policy):
    """Learning 15.20 from a host on 2026-12-02 leaves "approved as of 2026-11-24" as it was before learning."""
    policy = make_policy({"postgresql": {"15": {"approved": ["15.20"]}}})
    before = approved_release(policy, load_catalog(home), PG, "15", TODAY)
    assert (before.version, before.date, before.source) == ("15.20", None, "policy")
    learn_installable(PG, ["15.19", "15.20"], "lab", learned=dt.date(2026, 12, 2), home=home)
    after = approved_release(policy, load_catalog(home), PG, "15", TODAY)
    assert (after.version, after.date) == ("15.20", None)
    assert load_catalog(home).release(PG, "15.19").date == dt.date(
        2026, 8, 10
    )  # a dated release is untouched
    # a refresh that knows the date fills it in; a later host scan does not take it away
    fake_api.routes["/api/postgresql.json"] = (200, PG_CYCLES)
    assert (PG, "15.20") in refresh_from_endoflife(fake_api.url, [PG], home=home, learned=TODAY).added
    learn_installable(PG, ["15.20"], "lab", learned=dt.date(2026, 12, 3), home=home)
    dated = load_catalog(home).release(PG, "15.20")
    assert (dated.date, dated.source) == (dt.date(2026, 11, 13), "127.0.0.1")


def test_an_overlay_with_a_host_scan_day_as_release_date_is_read_without_it(home, make_policy):
    """Overlays written before this fix stored the scan day as the release date of host-learned versions."""
    path = home / "catalog" / "releases.json"
    path.parent.mkdir(parents=True)
    row = {"engine": "postgresql", "version": "15.20", "date": "2026-12-02", "source": "lab"}
    path.write_text(json.dumps({"format": 1, "releases": [row]}))
    policy = make_policy({"postgresql": {"15": {"approved": ["15.20"]}}})
    assert approved_release(policy, load_catalog(home), PG, "15", TODAY).version == "15.20"


def test_approval_by_age_ignores_versions_without_a_date(home, make_policy):
    learn_installable(PG, ["15.20"], "lab", learned=dt.date(2026, 8, 1), home=home)
    aged = make_policy({"postgresql": {"15": {"approve_after_days": 7}}})
    assert approved_release(aged, load_catalog(home), PG, "15", dt.date(2027, 6, 1)).version == "15.19"
    listed = make_policy({"postgresql": {"15": {"approve_after_days": 7, "approved": ["15.20"]}}})
    assert approved_release(listed, load_catalog(home), PG, "15", dt.date(2027, 6, 1)).version == "15.20"


def test_learn_from_dnf_and_lab(home):
    result = learn_installable(
        MONGO, versions_from_package_output("dnf", DNF, "mongodb-org-server"), "dnf", learned=TODAY, home=home
    )
    assert result.added == ((MONGO, "7.0.41"),)
    lab = learn_installable(
        PG, versions_from_package_output("lab", "# builds\n17.12\n"), "lab", learned=TODAY, home=home
    )
    assert lab.added == ((PG, "17.12"),)
    catalog = load_catalog(home)
    assert catalog.release(MONGO, "7.0.41").source == "dnf" and catalog.release(PG, "17.12").source == "lab"


def test_malformed_package_versions_change_nothing(home):
    learn_installable(PG, ["15.20"], "lab", learned=TODAY, home=home)
    before = overlay_bytes(home)
    with pytest.raises(ConfigError) as exc:
        learn_installable(PG, ["15.21", "15.x"], "lab", learned=TODAY, home=home)
    assert exc.value.problems == ["lab versions[1]: '15.x' is not a valid postgresql version"]
    assert overlay_bytes(home) == before
    with pytest.raises(ConfigError, match="no versions found"):
        versions_from_package_output("apt", APT, "postgresql-17")
