"""The hand-written corpus (``corpus.py``): each mistake gives exactly its one line and exit 2 from
``dbpatch validate``; the valid files and the harmless variants pass."""

from __future__ import annotations

import pytest

from cli.main import main
from tests.models.corpus import CASES, INVENTORY, POLICY


def edit(text: str, line: int, new: str | dict[int, str] | None) -> str:
    lines = text.splitlines()
    changes = new if isinstance(new, dict) else {line: new}
    for n in sorted(changes, reverse=True):
        if changes[n] is None:
            del lines[n - 1]
        else:
            lines[n - 1] = changes[n]  # type: ignore[call-overload]
    return "\n".join(lines) + "\n"


def validate(tmp_path, capsys, inventory: str, policy: str) -> tuple[int, list[str]]:
    (tmp_path / "inventory.yaml").write_text(inventory, encoding="utf-8")
    (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
    rc = main(
        [
            "validate",
            "--inventory",
            str(tmp_path / "inventory.yaml"),
            "--policy",
            str(tmp_path / "policy.yaml"),
        ]
    )
    return rc, capsys.readouterr().err.splitlines()


def test_the_corpus_is_large_and_its_names_unique():
    assert len(CASES) >= 100
    assert len({c[0] for c in CASES}) == len(CASES)


def test_the_base_files_are_valid(tmp_path, capsys):
    assert validate(tmp_path, capsys, INVENTORY, POLICY) == (0, [])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_corpus_case(tmp_path, capsys, case):
    name, kind, line, new, expected = case
    inventory = edit(INVENTORY, line, new) if kind == "inventory" else INVENTORY
    policy = edit(POLICY, line, new) if kind == "policy" else POLICY
    rc, err = validate(tmp_path, capsys, inventory, policy)
    if expected == "…":
        assert (rc, err) == (0, []), name
        return
    assert rc == 2, name
    assert len(err) == 1, err
    prefix = f"{kind}.yaml: "
    assert err[0].startswith(prefix), err
    if expected.startswith("…"):
        assert expected[1:] in err[0]
    else:
        assert err[0] == prefix + expected
