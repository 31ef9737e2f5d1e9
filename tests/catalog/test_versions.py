"""Version parsing and ordering per engine."""

from __future__ import annotations

import pytest

from dbpatch.errors import ConfigError
from dbpatch.models import Engine
from tasks.catalog import VersionError, major_of, parse_engine, parse_major, sort_key
from tasks.catalog.versions import canonical

PG, MONGO, SQL = Engine.POSTGRESQL, Engine.MONGODB, Engine.SQLSERVER


def test_postgresql_minor_compares_numerically_not_as_text():
    assert sort_key(PG, "15.9") < sort_key(PG, "15.10")
    assert sorted(["15.10", "15.9", "15.2"], key=lambda v: sort_key(PG, v)) == ["15.2", "15.9", "15.10"]


def test_mongodb_patch_compares_numerically():
    assert sort_key(MONGO, "7.0.9") < sort_key(MONGO, "7.0.12")


def test_sqlserver_builds_compare_numerically_with_three_or_four_parts():
    assert sort_key(SQL, "16.0.4135.4") < sort_key(SQL, "16.0.4205.1")
    assert sort_key(SQL, "16.0.999.1") < sort_key(SQL, "16.0.4003.1")
    assert sort_key(SQL, "16.0.4135") < sort_key(SQL, "16.0.4135.4") < sort_key(SQL, "16.0.4136")


@pytest.mark.parametrize(
    ("engine", "version", "major"),
    [
        (PG, "15.18", "15"),
        (PG, "10.23", "10"),
        (PG, "9.6.24", "9.6"),
        (MONGO, "7.0.12", "7.0"),
        (SQL, "16.0.4135.4", "16.0"),
        (SQL, "13.0.6404", "13.0"),
    ],
)
def test_major_of(engine, version, major):
    assert major_of(engine, version) == major


@pytest.mark.parametrize(
    ("engine", "version"),
    [
        (PG, "15"),
        (PG, "15.3.5"),
        (PG, "9.6"),
        (PG, "15.x"),
        (PG, "15.18 (Debian 15.18-0+deb12u1)"),
        (MONGO, "7.0"),
        (MONGO, "7.0.1.2"),
        (SQL, "16.0"),
        (SQL, "16.0.1.2.3"),
        (PG, ""),
    ],
)
def test_malformed_versions_are_config_errors(engine, version):
    with pytest.raises(VersionError):
        major_of(engine, version)


def test_canonical_drops_leading_zeros():
    assert canonical(PG, "15.09") == "15.9"


def test_majors_are_validated_and_sqlserver_years_accepted():
    assert parse_major(SQL, "2022") == "16.0"
    assert parse_major(PG, "15") == "15"
    assert parse_major(PG, "9.6") == "9.6"
    for engine, bad in [(PG, "15.1"), (MONGO, "7"), (SQL, "16.1"), (PG, "x")]:
        with pytest.raises(VersionError):
            parse_major(engine, bad)


def test_unknown_engine_is_one_line_config_error():
    with pytest.raises(ConfigError) as exc:
        parse_engine("oracle")
    assert exc.value.problems == ["unknown engine 'oracle' (one of: postgresql, mongodb, sqlserver)"]
