"""Webhooks: a real HTTP receiver on 127.0.0.1, retries on 5xx only, a dead receiver never raises, no secrets."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from dbpatch.models import MaintenanceWindow
from tasks.schedule.calendar import window_instances
from tasks.schedule.notify import NotifyEvent, notify, reminder_payload, reminders_due, scrub

BERLIN = ZoneInfo("Europe/Berlin")


class Receiver:
    """Records POST bodies; answers with the next status in ``statuses`` (then 200)."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/secret-path-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens any more: connection refused


def test_receiver_gets_each_event(receiver):
    for event in NotifyEvent:
        assert notify(receiver.url, event, {"cycle": "prod-20261219", "event_no": event.value}) is True
    assert [b["event"] for b in receiver.bodies] == [e.value for e in NotifyEvent]
    assert receiver.bodies[0] == {
        "event": "cycle_started",
        "source": "dbpatch",
        "payload": {"cycle": "prod-20261219", "event_no": "cycle_started"},
    }


def test_payload_values_that_are_not_json_become_strings(receiver):
    assert notify(receiver.url, NotifyEvent.WAVE_RESULT, {"at": dt.date(2026, 12, 19)})
    assert receiver.bodies[0]["payload"] == {"at": "2026-12-19"}


def test_secret_keys_are_dropped_before_sending(receiver):
    payload = {"cluster": "pg-orders", "password": "hunter2", "nested": [{"api_key": "k", "passed": 3}]}
    assert notify(receiver.url, NotifyEvent.FAILURE, payload)
    sent = receiver.bodies[0]["payload"]
    assert sent == {"cluster": "pg-orders", "nested": [{"passed": 3}]}
    assert "hunter2" not in json.dumps(receiver.bodies)
    assert payload["password"] == "hunter2"  # the caller's dict is not modified


def test_scrub_matches_secret_names_only():
    assert scrub(
        {"DB_PASSWORD": 1, "db_pwd": 2, "client_secret": 3, "Token": 4, "authorization": 5, "ok": 6}
    ) == {"ok": 6}
    assert scrub({"passed": 1, "failed": 2, "credentials": "pg-admin-block"}) == {
        "passed": 1,
        "failed": 2,
        "credentials": "pg-admin-block",
    }


def test_5xx_is_retried_twice(receiver):
    receiver.statuses = [503, 502]
    assert notify(receiver.url, NotifyEvent.CANARY_RESULT, {"ok": True}, backoff_seconds=0) is True
    assert len(receiver.bodies) == 3
    receiver.bodies.clear()
    receiver.statuses = [500, 500, 500]
    assert notify(receiver.url, NotifyEvent.CANARY_RESULT, {"ok": True}, backoff_seconds=0) is False
    assert len(receiver.bodies) == 3


def test_4xx_is_not_retried(receiver, caplog):
    receiver.statuses = [404]
    with caplog.at_level(logging.WARNING, logger="dbpatch.notify"):
        assert notify(receiver.url, NotifyEvent.APPROVAL_NEEDED, {"wave": "prod"}, backoff_seconds=0) is False
    assert len(receiver.bodies) == 1
    assert "HTTP 404" in caplog.text
    assert "secret-path-token" not in caplog.text  # the URL's path is never logged


def test_dead_receiver_returns_false_without_raising(closed_port_url, caplog):
    with caplog.at_level(logging.WARNING, logger="dbpatch.notify"):
        assert notify(closed_port_url, NotifyEvent.FAILURE, {"x": 1}, timeout=2, backoff_seconds=0) is False
    assert "ConnectError" in caplog.text


def test_missing_or_invalid_url_returns_false():
    assert notify(None, NotifyEvent.FAILURE, {}) is False
    assert notify("", NotifyEvent.FAILURE, {}) is False
    assert notify("not a url", NotifyEvent.FAILURE, {}, backoff_seconds=0) is False
    assert notify("http://[::1", NotifyEvent.FAILURE, {}, backoff_seconds=0) is False  # httpx.InvalidURL


def test_reminders_due_within_lead_time_and_not_skipped():
    window = MaintenanceWindow(name="prod", timezone="Europe/Berlin")
    instances = window_instances(window, [], dt.datetime(2026, 11, 24, tzinfo=BERLIN), 3)
    assert reminders_due(instances, dt.datetime(2026, 12, 18, 21, 0, tzinfo=BERLIN), 24) == []
    due = reminders_due(instances, dt.datetime(2026, 12, 18, 22, 0, tzinfo=BERLIN), 24)
    assert [i.key for i in due] == ["prod-20261219"]
    assert reminders_due(instances, dt.datetime(2026, 12, 19, 22, 0, tzinfo=BERLIN), 24) == []  # already open
    skipped = [replace(instances[0], skipped_by="freeze")]
    assert reminders_due(skipped, dt.datetime(2026, 12, 19, 12, 0, tzinfo=BERLIN), 24) == []
    assert reminder_payload(due[0])["start"] == "2026-12-19T22:00:00+01:00"
