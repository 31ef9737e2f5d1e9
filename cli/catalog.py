"""``dbpatch approved``, ``dbpatch check-build`` and ``dbpatch catalog …``: the catalog on the command line.

``register(subparsers)`` plugs the commands into the main ``dbpatch`` parser; ``main(argv)`` runs them on
their own. Exit codes: 0 yes / done, 1 no (not approved, nothing approved, source unreachable), 2 bad input
(one line per problem on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbpatch import paths
from dbpatch.errors import ConfigError, PatchError
from dbpatch.models import Policy, load_policy, parse_model, read_yaml
from tasks.catalog import (
    BuildSpec,
    approved_release,
    approved_releases,
    decide_build,
    learn_installable,
    load_catalog,
    mark_canary_validated,
    parse_engine,
    parse_major,
    refresh_from_endoflife,
    versions_from_package_output,
)
from tasks.catalog.versions import VersionError, canonical

Handler = Callable[[argparse.Namespace], int]


def default_policy_path() -> Path:
    return paths.lab() / "policy.yaml"


def _policy(args: argparse.Namespace) -> Policy:
    return load_policy(args.policy or default_policy_path())


def _on(args: argparse.Namespace) -> dt.date:
    if not getattr(args, "on", None):
        return dt.date.today()
    try:
        return dt.date.fromisoformat(args.on)
    except ValueError:
        raise ConfigError(f"--on: {args.on!r} is not a date (YYYY-MM-DD)") from None


def _guarded(fn: Handler) -> Handler:
    """Bad input becomes one line per problem on stderr and exit 2; an unreachable source exit 1."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except ConfigError as exc:
            for line in exc.problems:
                print(f"error: {line}", file=sys.stderr)
            return 2
        except PatchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


# --- commands -------------------------------------------------------------------------------------------


@_guarded
def cmd_approved(args: argparse.Namespace) -> int:
    engine = parse_engine(args.engine)
    major = parse_major(engine, args.major)
    on = _on(args)
    policy = _policy(args)
    release = approved_release(policy, load_catalog(), engine, major, on)
    if args.json:
        _print_json(
            {
                "engine": engine.value,
                "major": major,
                "approved": release.version if release else None,
                "release_date": release.date.isoformat() if release and release.date else None,
                "release_date_source": release.dated_by if release else None,
                "servicing_level": release.name if release else None,
                "kb": [f"KB{k}" for k in release.kb] if release else [],
                "as_of": on.isoformat(),
            }
        )
    elif release:
        print(release.version)
    else:
        print(f"{engine} {major}: nothing is approved as of {on}", file=sys.stderr)
    return 0 if release else 1


def _build_from_args(args: argparse.Namespace) -> tuple[Any, str]:
    if args.spec:
        if args.engine or args.version:
            raise ConfigError("check-build: give either ENGINE VERSION or --spec FILE, not both")
        name = Path(args.spec).name
        spec = parse_model(BuildSpec, read_yaml(args.spec), name)
        try:
            return spec.engine, canonical(spec.engine, spec.version)
        except VersionError as exc:
            raise ConfigError(f"{name}: version: {exc}") from None
    if not (args.engine and args.version):
        raise ConfigError("check-build: ENGINE and VERSION (or --spec FILE) are required")
    engine = parse_engine(args.engine)
    return engine, canonical(engine, args.version)


@_guarded
def cmd_check_build(args: argparse.Namespace) -> int:
    engine, version = _build_from_args(args)
    on = _on(args)
    decision = decide_build(_policy(args), load_catalog(), engine, version, on)
    if args.json:
        _print_json(decision.as_dict())
    else:
        print(decision.reason)
    return 0 if decision.passed else 1


@_guarded
def cmd_catalog_show(args: argparse.Namespace) -> int:
    engine = parse_engine(args.engine)
    catalog = load_catalog()
    on = _on(args)
    if not args.major:
        rows = []
        for major in catalog.majors(engine):
            info, rels = catalog.major_info(engine, major), catalog.versions(engine, major)
            rows.append(
                {
                    "major": major,
                    "releases": len(rels),
                    "latest": rels[-1].version if rels else None,
                    "eol": info.eol.isoformat() if info and info.eol else None,
                }
            )
        if args.json:
            _print_json(rows)
        for r in [] if args.json else rows:
            print(
                f"{engine} {r['major']:<6} {r['releases']:>4} releases  latest {r['latest'] or '-':<14} eol {r['eol'] or '-'}"
            )
        return 0
    major = parse_major(engine, args.major)
    policy_path = Path(args.policy) if args.policy else default_policy_path()
    approved: set[str] = set()
    if args.policy or policy_path.exists():
        approved = {
            r.version for r in approved_releases(load_policy(policy_path), catalog, engine, major, on)
        }
    rows = [
        {
            "version": r.version,
            "release_date": r.date.isoformat() if r.date else None,
            "release_date_source": r.dated_by,
            "servicing_level": r.name,
            "kb": [f"KB{k}" for k in r.kb],
            "approved": r.version in approved,
        }
        for r in catalog.versions(engine, major)
    ]
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'version':<30} {'released':<10}  {'approved':<8}  where the date comes from")
    for r in rows:
        label = f"{r['version']} {r['servicing_level'] or ''}".strip()
        mark = "yes" if r["approved"] else ""
        print(f"{label:<30} {r['release_date'] or 'unknown':<10}  {mark:<8}  {r['release_date_source']}")
    return 0


@_guarded
def cmd_catalog_refresh(args: argparse.Namespace) -> int:
    engines = [parse_engine(e) for e in args.engine] if args.engine else None
    result = refresh_from_endoflife(args.url, engines, learned=_on(args), timeout=args.timeout)
    print(result.sentence)
    return 0


@_guarded
def cmd_catalog_learn(args: argparse.Namespace) -> int:
    engine = parse_engine(args.engine)
    if args.source in ("apt", "dnf") and not args.package:
        raise ConfigError(f"catalog learn: --package is required with --source {args.source}")
    try:
        text = Path(args.file).read_text(encoding="utf-8") if args.file != "-" else sys.stdin.read()
    except OSError as exc:
        raise ConfigError(f"{args.file}: cannot read: {exc.strerror}") from None
    versions = versions_from_package_output(args.source, text, args.package)
    print(learn_installable(engine, versions, args.source, learned=_on(args)).sentence)
    return 0


@_guarded
def cmd_catalog_learn_hosts(args: argparse.Namespace) -> int:
    from dbpatch.models import load_inventory
    from flows.catalog import learn_from_hosts

    inventory = args.inventory or str(paths.lab() / "inventory.yaml")
    load_inventory(inventory)
    lines = learn_from_hosts(inventory)
    print("\n".join(lines) if lines else "nothing learned: no reachable target offered versions")
    return 0


@_guarded
def cmd_catalog_canary(args: argparse.Namespace) -> int:
    engine = parse_engine(args.engine)
    version = canonical(engine, args.version)
    on = _on(args)
    mark_canary_validated(engine, version, on)
    print(f"{engine} {version}: canary-validated on {on}")
    return 0


# --- parser ---------------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, policy: bool = True, as_json: bool = True) -> None:
    if policy:
        p.add_argument("--policy", default=None, help="policy file (default: <DBPATCH_HOME>/lab/policy.yaml)")
    p.add_argument(
        "--on", default=None, metavar="DATE", help="evaluate as of this day (YYYY-MM-DD, default today)"
    )
    if as_json:
        p.add_argument("--json", action="store_true", help="print JSON")


def register(subparsers: Any) -> None:
    """Add ``approved``, ``check-build`` and ``catalog`` to the ``dbpatch`` parser's subcommands."""
    p = subparsers.add_parser("approved", help="print the approved version of an engine major")
    p.add_argument("engine", help="postgresql, mongodb or sqlserver")
    p.add_argument("major", help="major: 15, 7.0, 16.0 (or 2022)")
    _common(p)
    p.set_defaults(func=cmd_approved)

    p = subparsers.add_parser("check-build", help="new-build gate: exit 0 when a version is approved")
    p.add_argument("engine", nargs="?", help="postgresql, mongodb or sqlserver")
    p.add_argument("version", nargs="?", help="version the build installs, e.g. 15.20")
    p.add_argument("--spec", default=None, metavar="FILE", help="YAML build spec with engine and version")
    _common(p)
    p.set_defaults(func=cmd_check_build)

    catalog = subparsers.add_parser("catalog", help="show or refresh the version catalog")
    sub = catalog.add_subparsers(dest="catalog_command", required=True)
    p = sub.add_parser("show", help="majors of an engine, or the releases of one major")
    p.add_argument("engine")
    p.add_argument("major", nargs="?")
    _common(p)
    p.set_defaults(func=cmd_catalog_show)

    p = sub.add_parser("refresh", help="learn new releases from an endoflife.date-style API")
    p.add_argument(
        "--url", default="https://endoflife.date", help="API base URL (GET <url>/api/<product>.json)"
    )
    p.add_argument("--engine", action="append", help="only this engine (repeatable)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    _common(p, policy=False, as_json=False)
    p.set_defaults(func=cmd_catalog_refresh)

    p = sub.add_parser("learn", help="learn versions a package source can install")
    p.add_argument("engine")
    p.add_argument("--source", required=True, choices=["apt", "dnf", "lab"])
    p.add_argument(
        "--file",
        required=True,
        help="apt-cache madison / dnf --showduplicates list output, "
        "or one version per line for lab ('-' for stdin)",
    )
    p.add_argument("--package", default=None, help="package name the output is for (apt, dnf)")
    _common(p, policy=False, as_json=False)
    p.set_defaults(func=cmd_catalog_learn)

    p = sub.add_parser(
        "learn-hosts", help="learn what the inventory's hosts can install (via their package sources)"
    )
    p.add_argument("--inventory", default=None, help="inventory YAML (default: the lab's)")
    p.set_defaults(func=cmd_catalog_learn_hosts)

    p = sub.add_parser("canary", help="record that a version passed a canary wave")
    p.add_argument("engine")
    p.add_argument("version")
    _common(p, policy=False, as_json=False)
    p.set_defaults(func=cmd_catalog_canary)


def main(argv: list[str] | None = None) -> int:
    """Run the catalog commands without the rest of the CLI (tests, and until ``cli.main`` exists)."""
    parser = argparse.ArgumentParser(prog="dbpatch", description="dbpatch version catalog")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
