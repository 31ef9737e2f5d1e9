"""``dbpatch calendar``: next cycles per window, .ics output, one-line errors with exit 2."""

from __future__ import annotations

from icalendar import Calendar

from cli.schedule import main

POLICY = """\
windows:
  - name: prod-weekend
    environments: [prod]
    timezone: Europe/Berlin
  - name: dev-tuesday
    environments: [dev]
    rrule: FREQ=WEEKLY;BYDAY=TU
    start: "19:00"
    duration_hours: 3
    timezone: America/New_York
blackouts:
  - name: year-end freeze
    start: 2026-12-20
    end: 2027-01-05
canary: {count: 1, bake_hours: 12}
waves: {order: [dev, test, prod], approval_required: [prod]}
"""


def _policy(tmp_path, text=POLICY):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_lists_next_cycles_per_window_with_local_times(tmp_path, capsys):
    rc = main(["calendar", "--policy", str(_policy(tmp_path)), "--after", "2026-11-24", "--count", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert (
        "2026-12-19 Sat 22:00 CET → 04:00 CET (+1 d), cutoff 03:00 CET  SKIPPED (blackout: year-end freeze)"
        in out
    )
    assert "2027-01-16 Sat 22:00 CET" in out and "2027-02-20 Sat 22:00 CET" in out
    assert "2027-03-20" not in out  # --count 3
    assert "2026-11-24 Tue 19:00 EST → 22:00 EST, cutoff 21:00 EST" in out
    assert "canary 1 (tag 'canary') → bake 12 h → dev → test → prod" in out
    assert "approval needed: prod" in out
    assert "blackout: year-end freeze 2026-12-20..2027-01-05 (skip)" in out


def test_default_policy_is_in_dbpatch_home(tmp_path, monkeypatch, capsys):
    (tmp_path / "lab").mkdir()
    _policy(tmp_path / "lab")
    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path))
    assert main(["calendar", "--after", "2027-01-01", "--count", "1"]) == 0
    assert "2027-01-16 Sat 22:00 CET" in capsys.readouterr().out


def test_writes_ics(tmp_path, capsys):
    ics = tmp_path / "out" / "cycles.ics"
    rc = main(
        [
            "calendar",
            "--policy",
            str(_policy(tmp_path)),
            "--after",
            "2026-11-24",
            "--count",
            "2",
            "--ics",
            str(ics),
        ]
    )
    assert rc == 0
    assert f"wrote 4 events to {ics}" in capsys.readouterr().out
    assert len(Calendar.from_ical(ics.read_bytes()).walk("VEVENT")) == 4


def test_missing_policy_is_one_line_and_exit_2(tmp_path, capsys):
    rc = main(["calendar", "--policy", str(tmp_path / "nope.yaml")])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    assert captured.err.splitlines() == [f"dbpatch calendar: {tmp_path / 'nope.yaml'}: file not found"]


def test_bad_date_is_one_line_and_exit_2(tmp_path, capsys):
    rc = main(["calendar", "--policy", str(_policy(tmp_path)), "--after", "2026-13-01"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.splitlines() == ["dbpatch calendar: --after: '2026-13-01' is not a date (YYYY-MM-DD)"]


def test_bad_count_and_bad_rrule_exit_2(tmp_path, capsys):
    assert main(["calendar", "--policy", str(_policy(tmp_path)), "--count", "0"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    bad = _policy(tmp_path, "windows:\n  - name: w\n    rrule: FREQ=SOMETIMES\n")
    assert main(["calendar", "--policy", str(bad), "--after", "2026-11-24"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "dbpatch calendar: policy.yaml: line 3: windows[0].rrule: 'FREQ=SOMETIMES': invalid 'FREQ': SOMETIMES"
    ]


def test_invalid_policy_prints_each_problem(tmp_path, capsys):
    bad = _policy(tmp_path, "windows:\n  - name: w\n    timezone: Mars/Olympus\n")
    assert main(["calendar", "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "policy.yaml: line 3: windows[0].timezone: unknown IANA timezone 'Mars/Olympus'" in err
    assert "Traceback" not in err


FAR_APART = """\
windows:
  - name: auckland
    environments: [prod]
    rrule: FREQ=WEEKLY;BYDAY=SU
    start: "01:30"
    duration_hours: 4
    timezone: Pacific/Auckland
  - name: honolulu
    environments: [dev]
    rrule: FREQ=WEEKLY;BYDAY=FR
    start: "07:00"
    duration_hours: 3
    timezone: Pacific/Honolulu
  - name: berlin
    environments: [test]
    timezone: Europe/Berlin
"""


def _text_instances(out: str) -> set[tuple[str, str]]:
    found, window = set(), None
    for line in out.splitlines():
        if line.startswith("window "):
            window = line.split()[1]
        elif line.startswith("  20") and window:
            found.add((window, " ".join(line.split()[:3])))
    return found


def _ics_instances(path) -> set[tuple[str, str]]:
    cal = Calendar.from_ical(path.read_bytes())
    return {
        (str(e["uid"]).rsplit("-", 1)[0], f"{e['dtstart'].dt:%Y-%m-%d %a %H:%M}") for e in cal.walk("VEVENT")
    }


def test_text_and_ics_list_the_same_instances_across_timezones(tmp_path, capsys):
    policy = _policy(tmp_path, FAR_APART)
    for after in (["--after", "2026-11-28"], ["--after", "2027-03-27"], []):
        ics = tmp_path / "cycles.ics"
        assert main(["calendar", "--policy", str(policy), "--count", "4", "--ics", str(ics), *after]) == 0
        text = _text_instances(capsys.readouterr().out)
        assert len(text) == 12
        assert text == _ics_instances(ics), after
    # --after is midnight in each window's own timezone: Honolulu's Friday 2026-11-27 instance ended before
    # its 2026-11-28 midnight (but after Auckland's), so neither the text nor the .ics lists it
    ics = tmp_path / "one.ics"
    assert (
        main(
            ["calendar", "--policy", str(policy), "--count", "1", "--after", "2026-11-28", "--ics", str(ics)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2026-12-04 Fri 07:00 HST" in out and "2026-11-29 Sun 01:30 NZDT" in out
    assert ("honolulu", "2026-12-04 Fri 07:00") in _ics_instances(ics)
