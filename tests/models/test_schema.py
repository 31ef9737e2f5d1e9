"""The JSON Schemas for editors come from the loader's own models and rules: the files in docs/schema are
current, and for every constrained string the schema and the loader accept exactly the same values."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from dbpatch import models
from dbpatch.models import json_schemas

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = [
    "main",
    "pg-orders-1",
    "MSSQLSERVER",
    "MSSQL$PROD",
    "MSSQL$A$B",
    "SQLAgent$PROD",
    "postgresql@15-main",
    "db1.example.com",
    "10.0.0.12",
    "10.0.0.312",
    "::1",
    "fe80::1::2",
    "fe80::1%eth0",
    "-db",
    "db-",
    "a" * 254,
    "15.20",
    "7.0.14",
    "16.0.4135.4",
    "15",
    "15.20\n",
    "/var/lib/pg",
    "/",
    "/a/",
    "/a//b",
    "/a/../b",
    "/a/./b",
    "/a/..b",
    "relative/x",
    "22:00",
    "9:00",
    "24:00",
    "22:00:30",
    "1",
    "25%",
    "100%",
    "101%",
    "0.5",
    "",
    "pg-prod\n",
    "ünï",
    "x y",
    "a\tb",
    "1.2.3.4.5",
]
TYPES = {
    "Name": models.Name,
    "Host": models.Host,
    "Version": models.Version,
    "AbsPath": models.AbsPath,
    "Service": models.Service,
    "TimeOfDay": models.TimeOfDay,
    "MaxErrors": models.MaxErrors,
}


def _agree(kind: str, value: str) -> None:
    adapter = TypeAdapter(TYPES[kind])
    schema = adapter.json_schema()
    by_schema = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).is_valid(
        value
    )
    try:
        adapter.validate_python(value)
        by_loader = True
    except ValidationError:
        by_loader = False
    assert by_schema == by_loader, (kind, value, schema)


def test_schema_files_are_current():
    for name, schema in json_schemas().items():
        on_disk = json.loads((ROOT / "docs" / "schema" / f"{name}.schema.json").read_text())
        assert on_disk == schema, f"docs/schema/{name}.schema.json is stale: run `dbpatch schema`"


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_schema_and_loader_agree_on_samples(kind):
    for value in SAMPLES:
        _agree(kind, value)


@settings(max_examples=300, database=None, deadline=None)
@given(st.sampled_from(sorted(TYPES)), st.text(alphabet=st.sampled_from("az09AZ.-_/:$@%%\n é"), max_size=20))
def test_schema_and_loader_agree_on_generated_strings(kind, value):
    _agree(kind, value)


def test_windows_service_names_in_schema_and_loader():
    service = json_schemas()["inventory"]["$defs"]["Target"]["properties"]["service"]["anyOf"][0]
    for name in ("MSSQLSERVER", "MSSQL$INSTANCE", "main"):
        assert jsonschema.Draft202012Validator(service).is_valid(name)
        TypeAdapter(models.Service).validate_python(name)
