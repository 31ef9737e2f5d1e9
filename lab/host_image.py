"""The Debian 12 root filesystem the host lab's hosts are made of: built once with debootstrap, cached as a tarball.

The image holds what a freshly installed Debian database host holds: the base system, OpenSSH, sudo,
postgresql-common and ``postgresql-15`` at 15.18 from the Debian archive, with the archive's ``bookworm``,
``bookworm-updates`` and ``bookworm-security`` suites configured (15.20 comes from the latter). The mirror is the
one this machine's apt already uses, read from its sources at run time; no host name is written anywhere.

No cluster is created in the image (each host creates its own, on its own address), and no host keys are kept
(each host generates its own). During the image build only, a ``policy-rc.d`` keeps package scripts from
starting services on the build machine; it is removed before the tarball is written, so on the hosts package
scripts start and stop services as on any Debian host.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dbpatch import paths
from dbpatch.errors import PatchError

SUITE = "bookworm"
MAJOR = "15"
BASE_VERSION = "15.18"  # installed in the image
TARGET_VERSION = "15.20"  # must be installable from the configured suites
INCLUDE = ("openssh-server", "sudo", "tini", "procps", "iproute2", "less")
RECIPE = 2  # bump when the recipe below changes: the cache key changes with it

BUILD_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "HOME": "/root",
}


def say(message: str) -> None:
    print(f"hosts: {message}", file=sys.stderr, flush=True)


# --- the machine's apt sources ------------------------------------------------------------------------------


def _deb822_entries(text: str) -> list[tuple[str, list[str]]]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
            for uri in fields.get("uris", "").split():
                out.append((uri, fields.get("suites", "").split()))
    return out


def _one_line_entries(text: str) -> list[tuple[str, list[str]]]:
    out = []
    for line in text.splitlines():
        line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()  # type: ignore[assignment]
        if len(line) >= 3 and line[0] == "deb":
            out.append((line[1], [line[2]]))
    return out


def apt_mirrors(etc: Path = Path("/etc/apt")) -> dict[str, str]:
    """{suite: archive URI} for the bookworm suites this machine's apt uses (deb822 and one-line sources)."""
    entries: list[tuple[str, list[str]]] = []
    for f in sorted((etc / "sources.list.d").glob("*.sources")):
        entries += _deb822_entries(f.read_text(errors="replace"))
    for f in [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]:
        if f.is_file():
            entries += _one_line_entries(f.read_text(errors="replace"))
    mirrors: dict[str, str] = {}
    for uri, suites in entries:
        for suite in suites:
            if suite in (SUITE, f"{SUITE}-updates", f"{SUITE}-security") or suite == f"{SUITE}/updates":
                mirrors.setdefault(suite.replace("/updates", "-security"), uri.rstrip("/"))
    missing = [s for s in (SUITE, f"{SUITE}-security") if s not in mirrors]
    if missing:
        raise PatchError(
            f"hosts: this machine's apt sources name no archive for {', '.join(missing)} "
            f"(read {etc}/sources.list and sources.list.d); the host lab installs from the same archive"
        )
    mirrors.setdefault(f"{SUITE}-updates", mirrors[SUITE])
    return mirrors


def sources_file(mirrors: dict[str, str]) -> str:
    """The deb822 sources the hosts use: the same archives as this machine."""
    key = "/usr/share/keyrings/debian-archive-keyring.gpg"
    main = (
        f"Types: deb\nURIs: {mirrors[SUITE]}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\nSigned-By: {key}\n"
        if mirrors[f"{SUITE}-updates"] == mirrors[SUITE]
        else f"Types: deb\nURIs: {mirrors[SUITE]}\nSuites: {SUITE}\nComponents: main\nSigned-By: {key}\n\n"
        f"Types: deb\nURIs: {mirrors[f'{SUITE}-updates']}\nSuites: {SUITE}-updates\nComponents: main\n"
        f"Signed-By: {key}\n"
    )
    security = f"Types: deb\nURIs: {mirrors[f'{SUITE}-security']}\nSuites: {SUITE}-security\nComponents: main\nSigned-By: {key}\n"
    return main + "\n" + security


# --- running things in a root filesystem --------------------------------------------------------------------

# Run a command chrooted in its own PID and mount namespace with a private /proc: nothing it starts outlives it
# and no mount leaks to this machine. $1 is the root, the rest the command.
_IN_ROOT = 'root=$1; shift; mount -t proc proc "$root/proc" && exec chroot "$root" "$@"'


def in_root(
    root: Path, argv: list[str], *, stdin: str | None = None, check: bool = True, timeout: float = 1800
):
    cmd = ["unshare", "--pid", "--fork", "--mount", "--", "sh", "-c", _IN_ROOT, "sh", str(root), *argv]
    res = subprocess.run(  # noqa: S603 - argument list
        cmd, input=stdin, capture_output=True, text=True, env=BUILD_ENV, timeout=timeout
    )
    if check and res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-5:]
        raise PatchError(
            f"hosts: `{' '.join(argv[:4])}` in the image exited {res.returncode}: {'; '.join(tail)}"
        )
    return res


def _tar_flags() -> list[str]:
    return ["--zstd"] if shutil.which("zstd") else ["--gzip"]


# --- the image ----------------------------------------------------------------------------------------------


def image_path() -> Path:
    recipe = f"{RECIPE} {SUITE} {BASE_VERSION} {' '.join(INCLUDE)}"
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:10]
    suffix = ".tar.zst" if shutil.which("zstd") else ".tar.gz"
    return paths.cache() / "hosts" / f"debian-{SUITE}-postgresql-{BASE_VERSION}-{digest}{suffix}"


def ensure_image() -> Path:
    """The cached image tarball; built now (a few minutes, needs the archive) if it is not there yet."""
    tar = image_path()
    if tar.exists():
        return tar
    for tool in ("debootstrap", "unshare", "chroot"):
        if not shutil.which(tool):
            raise PatchError(f"hosts: {tool} not found: run .ci/setup (it installs debootstrap)")
    tar.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=tar.parent) as tmp:
        root = Path(tmp) / "rootfs"
        build_rootfs(root)
        say(f"writing the image {tar.name}")
        part = tar.with_name(tar.name + ".part")
        subprocess.run(  # noqa: S603
            ["tar", *_tar_flags(), "--numeric-owner", "-cpf", str(part), "-C", str(root), "."],
            check=True,
            capture_output=True,
        )
        part.rename(tar)
    say(f"image built in {time.monotonic() - started:.0f}s ({tar.stat().st_size // 2**20} MiB): {tar}")
    return tar


def build_rootfs(root: Path) -> None:
    mirrors = apt_mirrors()
    say(f"debootstrap {SUITE} (minbase + {', '.join(INCLUDE)}) from this machine's apt archive")
    t0 = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(INCLUDE)}",
            "--components=main",
            SUITE,
            str(root),
            mirrors[SUITE],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=BUILD_ENV,
    )
    assert proc.stdout is not None
    seen: set[str] = set()
    log: list[str] = []
    for line in proc.stdout:  # one progress line per stage: Retrieving, Extracting, Unpacking, Configuring …
        log.append(line.rstrip())
        word = line[3:].split(" ", 1)[0] if line.startswith("I: ") else ""
        if word and word not in seen:
            seen.add(word)
            say(f"  debootstrap: {line[3:].strip()}")
    if proc.wait() != 0:
        raise PatchError(f"hosts: debootstrap exited {proc.returncode}: {'; '.join(log[-5:])}")
    say(f"  base system in {time.monotonic() - t0:.0f}s")

    (root / "etc/apt/sources.list").write_text("")
    (root / "etc/apt/sources.list.d/debian.sources").write_text(sources_file(mirrors))
    (root / "etc/apt/apt.conf.d/90dbpatch").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
    )
    policy = root / "usr/sbin/policy-rc.d"  # build time only: start nothing on the build machine
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    say("apt-get update in the image (bookworm, -updates, -security)")
    in_root(root, ["apt-get", "update", "-q"])
    madison = in_root(root, ["apt-cache", "madison", f"postgresql-{MAJOR}"]).stdout
    full = _full_versions(madison)
    if TARGET_VERSION not in full or BASE_VERSION not in full:
        raise PatchError(
            f"hosts: the archive offers postgresql-{MAJOR} {', '.join(full) or 'nothing'}; "
            f"the host lab needs {BASE_VERSION} and {TARGET_VERSION}"
        )
    say(f"installing postgresql-common and postgresql-{MAJOR} {full[BASE_VERSION]}")
    t0 = time.monotonic()
    in_root(
        root,
        [
            "apt-get",
            "install",
            "-y",
            "-q",
            "postgresql-common",
            f"postgresql-{MAJOR}={full[BASE_VERSION]}",
            f"postgresql-client-{MAJOR}={full[BASE_VERSION]}",
        ],
    )
    say(f"  installed in {time.monotonic() - t0:.0f}s")
    # each host creates its own cluster on its own address
    in_root(root, ["pg_dropcluster", MAJOR, "main"], check=False)
    policy.unlink()
    _sysvinit_shims(root)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    in_root(root, ["apt-get", "clean"])
    for sub in ("var/log/apt", "tmp"):
        for p in (root / sub).glob("*"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def _sysvinit_shims(root: Path) -> None:
    """Make the hosts a sysvinit host in runlevel 2, so package scripts start and stop services as on one.

    Without an init system, ``invoke-rc.d`` blocks every start ("No init system and policy-rc.d missing!
    Defaulting to block"): it looks for ``/sbin/init`` and asks ``/sbin/runlevel``. On the hosts, PID 1 of each
    host's PID namespace is tini (``/sbin/init`` points at it) and the boot script brings up runlevel 2's
    services; ``runlevel`` says so. ``invoke-rc.d`` then runs ``/etc/init.d/postgresql`` (rc2.d links), which
    calls ``pg_ctlcluster``; with no ``/run/systemd/system``, pg_ctlcluster runs pg_ctl itself.
    """
    (root / "usr/sbin/init").symlink_to("/usr/bin/tini")
    runlevel = root / "usr/sbin/runlevel"
    runlevel.write_text(
        "#!/bin/sh\n# the host lab's hosts run their services in runlevel 2 (see lab/host_image.py)\necho 'N 2'\n"
    )
    runlevel.chmod(0o755)


def _full_versions(madison: str) -> dict[str, str]:
    from tasks.host.packages import parse_apt_madison

    return parse_apt_madison(madison, f"postgresql-{MAJOR}")
