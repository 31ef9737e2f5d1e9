"""Fixtures for the catalog tests: a private DBPATCH_HOME, the shipped catalog and policy builders."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbpatch.models import Policy
from tasks.catalog import Catalog, load_catalog


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DBPATCH_HOME so no test reads or writes the real one."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("DBPATCH_HOME", str(path))
    return path


@pytest.fixture
def catalog(home: Path) -> Catalog:
    return load_catalog(home)


@pytest.fixture
def make_policy() -> Any:
    """Build a Policy from ``{engine: {major: baseline}}``."""

    def build(baselines: dict[str, dict[str, dict[str, Any]]]) -> Policy:
        return Policy.model_validate({"baselines": baselines})

    return build


@pytest.fixture
def write_policy(home: Path) -> Any:
    """Write ``{engine: {major: baseline}}`` to the default policy path, <home>/lab/policy.yaml."""

    def write(baselines: dict[str, Any]) -> Path:
        path = home / "lab" / "policy.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"baselines": baselines}), encoding="utf-8")
        return path

    return write


class FakeApi:
    """A tiny endoflife.date look-alike on 127.0.0.1: ``routes`` maps a path to (status, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any]] = {}
        self.hits: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                api.hits.append(self.path)
                status, body = api.routes.get(self.path, (404, {"error": "not found"}))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()
        thread.join(timeout=5)
