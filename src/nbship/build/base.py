"""The Debian bookworm base every image starts from: pulled where possible, else bootstrapped.

Real users pull the official `debian:bookworm-slim`. Where no registry can be reached, the same
release is made from Debian's own packages with debootstrap and `docker import`, tagged with a hash
of everything that shapes it, so it is made once and reused until those inputs change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from nbship import docker
from nbship.errors import NbshipError

OFFICIAL = "debian:bookworm-slim"
SUITE = "bookworm"
MIRROR = os.environ.get("NBSHIP_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What the bootstrapped root gets in /etc/apt so images can apt-get like the official image does.
SOURCES = (
    f"deb {MIRROR} {SUITE} main\n"
    f"deb {MIRROR} {SUITE}-updates main\n"
    f"deb {MIRROR}-security {SUITE}-security main\n"
)
# Bump when the bootstrap recipe below changes, so cached bases are rebuilt.
RECIPE = 1


def bootstrap_tag() -> str:
    """The tag of the bootstrapped base: a hash of suite, mirror, sources and recipe."""
    key = json.dumps({"suite": SUITE, "mirror": MIRROR, "sources": SOURCES, "recipe": RECIPE})
    return f"nbship/debian:{SUITE}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ensure_debian_base(mode: str = "auto") -> str:
    """Return a local image reference for the Debian base.

    mode: "auto" (official image if present or pullable, else bootstrap), "pull", "bootstrap",
    or an explicit image reference to use as is.
    """
    docker.ensure_daemon()
    if mode not in {"auto", "pull", "bootstrap"}:
        if not docker.image_exists(mode) and not docker.try_pull(mode):
            raise NbshipError(f"base image {mode} is neither local nor pullable")
        return mode
    if mode in {"auto", "pull"}:
        if docker.image_exists(OFFICIAL) or docker.try_pull(OFFICIAL, timeout=60):
            return OFFICIAL
        if mode == "pull":
            raise NbshipError(
                f"cannot pull {OFFICIAL}: no registry reachable (use --base bootstrap)"
            )
    tag = bootstrap_tag()
    if not docker.image_exists(tag):
        _bootstrap(tag)
    return tag


def _ensure_debootstrap() -> None:
    """Install Debian's debootstrap package when it is missing and this is root on Debian.

    The quick start promises a healthy stack from a machine that has Docker and Python only; on
    such a machine without a registry, debootstrap is the one extra tool the base needs.
    """
    if shutil.which("debootstrap") is not None:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise NbshipError(
            f"{OFFICIAL} cannot be pulled and debootstrap is missing: apt-get install debootstrap"
        )
    print("nbship: installing debootstrap from Debian's packages (to make the base offline)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"],
    ):
        result = subprocess.run(args, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-2:]
            raise NbshipError(
                f"`{' '.join(args[:3])}` failed while installing debootstrap: {' | '.join(tail)}"
            )


def _bootstrap(tag: str) -> None:
    if os.geteuid() != 0:
        raise NbshipError("debootstrap needs root to build the Debian base: run as root (or sudo)")
    _ensure_debootstrap()
    print(
        f"nbship: no registry reachable; bootstrapping Debian {SUITE} into {tag} (about a minute)"
    )
    with tempfile.TemporaryDirectory(prefix="nbship-debootstrap-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), MIRROR],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise NbshipError(f"debootstrap failed: {' | '.join(tail)}")
        (rootfs / "etc/apt/sources.list").write_text(SOURCES)
        # Same trims as the official slim image: no apt lists or caches in the base layer.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / sub).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
        )
        imported = subprocess.run(
            ["docker", "import", "--change", 'CMD ["bash"]', "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise NbshipError(f"docker import of the Debian base failed: {imported.stderr.strip()}")
    print(f"nbship: base image {tag} ready")
