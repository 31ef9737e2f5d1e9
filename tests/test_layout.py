"""Imports flow one way: core ← blocks ← tasks ← flows ← CLI, the lab beside the CLI (docs/architecture ADR-2),
and no module imports itself back through others."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["dbpatch", "blocks", "tasks", "reports", "flows", "deployments", "cli", "lab"]
# what each layer may import (besides itself); reports render what tasks return, flows compose both
ALLOWED = {
    "dbpatch": set(),
    "blocks": {"dbpatch"},
    "tasks": {"dbpatch", "blocks"},
    "reports": {"dbpatch", "tasks"},
    "flows": {"dbpatch", "blocks", "tasks", "reports"},
    "deployments": {"dbpatch", "flows", "tasks"},
    "cli": {"dbpatch", "blocks", "tasks", "reports", "flows", "lab"},
    "lab": {"dbpatch", "blocks", "tasks", "flows"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: frozenset[str] = frozenset()) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function; ``from pkg import mod`` names ``pkg.mod``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            found |= subs if subs and len(subs) == len(node.names) else {node.module, *subs}
    return found


def test_layers_import_only_downwards():
    wrong = []
    for module, path in _modules().items():
        layer = module.split(".")[0]
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top in LAYERS and top != layer and top not in ALLOWED[layer]:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_no_import_cycles():
    modules = _modules()
    known = frozenset(modules)
    graph = {m: {i for i in _imports(p, known) if i in modules and i != m} for m, p in modules.items()}
    cycles, state = [], dict.fromkeys(graph, 0)

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state[n] == 1:
                cycles.append(" → ".join([*stack[stack.index(n) :], n]))
            elif state[n] == 0:
                visit(n, [*stack, n])
        state[m] = 2

    for m in sorted(graph):
        if state[m] == 0:
            visit(m, [m])
    assert cycles == []


def test_only_the_registry_names_engines_for_patching():
    """Patching code chooses an engine through ``tasks/engines.py`` alone, never by if/elif on its name."""
    offenders = []
    for rel in (
        "tasks/patch.py",
        "tasks/rolling.py",
        "tasks/engine.py",
        "flows/patch_wave.py",
        "flows/patch_cycle.py",
    ):
        text = (ROOT / rel).read_text(encoding="utf-8")
        if "Engine.POSTGRESQL" in text or "Engine.MONGODB" in text or "Engine.MSSQL" in text:
            offenders.append(rel)
    assert offenders == []
