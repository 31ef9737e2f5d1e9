"""The shipped catalog loads, is ordered, and malformed data is refused with file and field."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from dbpatch.errors import ConfigError
from dbpatch.models import Engine
from tasks.catalog import load_catalog
from tasks.catalog.catalog import DATA_DIR, SHIPPED_FILES

PG, MONGO, SQL = Engine.POSTGRESQL, Engine.MONGODB, Engine.SQLSERVER


def test_shipped_files_are_the_shared_snapshot_unchanged():
    shared = Path("/work/shared/data")
    if not shared.exists():
        pytest.skip("shared data directory not available")
    for name in SHIPPED_FILES.values():
        assert (DATA_DIR / name).read_bytes() == (shared / name).read_bytes(), name


def test_versions_are_ascending_and_complete(catalog):
    pg16 = [r.version for r in catalog.versions(PG, "16")]
    assert pg16[0] == "16.0" and pg16[-1] == "16.15" and len(pg16) == 16
    assert pg16.index("16.9") < pg16.index("16.10")
    raw = json.loads((DATA_DIR / "mongodb-releases.json").read_text())
    assert len(catalog.versions(MONGO, "7.0")) == sum(
        v["version"].startswith("7.0.") for v in raw["versions"]
    )


def test_release_lookup_and_dates(catalog):
    r = catalog.release(PG, "16.2")
    assert r is not None and r.date == dt.date(2024, 2, 5) and r.source == "endoflife.date"
    assert catalog.release(PG, "18.5") is None  # absent from the source (see SOURCES.md)
    assert catalog.release(PG, "15.x") is None


def test_sqlserver_three_part_finds_four_part_build_with_name_and_kb(catalog):
    r = catalog.release(SQL, "16.0.4135")
    assert r is not None and r.version == "16.0.4135.4" and r.name == "CU14" and r.kb == ("5038325",)
    assert catalog.major_of(SQL, r.version) == "16.0"
    retired = catalog.release(SQL, "16.0.4235.2")
    assert retired is not None and retired.retired and retired.name == "CU23"


def test_major_info(catalog):
    pg14 = catalog.major_info(PG, "14")
    assert pg14 is not None and pg14.eol == dt.date(2026, 11, 12)
    sql = catalog.major_info(SQL, "2022")
    assert sql is not None and sql.label == "SQL Server 2022"
    assert sql.mainstream_end == dt.date(2028, 1, 11) and sql.eol == sql.extended_end == dt.date(2033, 1, 11)
    assert catalog.major_info(MONGO, "8.2").rapid_release is True


def _corrupt_copy(tmp_path: Path, name: str, edit) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(DATA_DIR, data_dir)
    path = data_dir / name
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return data_dir


def test_malformed_shipped_date_names_file_and_field(home, tmp_path):
    def edit(data):
        data["versions"][3]["date"] = "2026-13-45"

    data_dir = _corrupt_copy(tmp_path, "postgresql-releases.json", edit)
    with pytest.raises(ConfigError) as exc:
        load_catalog(home, data_dir=data_dir)
    assert exc.value.problems == ["postgresql-releases.json: versions[3].date: must be a date (YYYY-MM-DD)"]


def test_malformed_shipped_build_names_file_and_field(home, tmp_path):
    def edit(data):
        data["builds"][0]["build"] = "16.0.x"

    data_dir = _corrupt_copy(tmp_path, "mssqlserver-builds.json", edit)
    with pytest.raises(ConfigError) as exc:
        load_catalog(home, data_dir=data_dir)
    assert exc.value.problems[0].startswith("mssqlserver-builds.json: builds[0].build: '16.0.x'")


def test_malformed_overlay_is_refused(home):
    (home / "catalog").mkdir()
    (home / "catalog" / "releases.json").write_text(
        json.dumps({"format": 1, "releases": [{"engine": "postgresql", "version": "15.x", "source": "apt"}]})
    )
    with pytest.raises(ConfigError) as exc:
        load_catalog(home)
    assert exc.value.problems == [
        "catalog/releases.json: releases[0]: '15.x' is not a valid postgresql version"
    ]
