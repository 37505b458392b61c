"""Per-service wheelhouses: every locked, hashed wheel a service image installs, fetched here.

Images install with `pip --no-index`, so the image build needs no network and installs exactly
what the lock names. The wheels are for the images' interpreter (CPython 3.11, manylinux x86-64),
whatever Python the host runs. A wheelhouse is rebuilt only when its lock file changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nbship.errors import NbshipError
from nbship.paths import WHEELHOUSE

# The interpreter inside the images (Debian bookworm's python3.11 on x86-64, glibc 2.36).
TARGET = [
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311", "--abi", "abi3", "--abi", "none",
    "--platform", "manylinux_2_36_x86_64",
    "--platform", "manylinux_2_28_x86_64",
    "--platform", "manylinux_2_17_x86_64",
    "--platform", "manylinux2014_x86_64",
    "--platform", "linux_x86_64",
    "--platform", "any",
]  # fmt: skip
STAMP = ".lock.sha256"


def _digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes() + " ".join(TARGET).encode()).hexdigest()


def ensure(service: str, lock: Path) -> Path:
    """Return build/wheelhouse/SERVICE holding every wheel of LOCK, fetching it if stale."""
    if not lock.exists():
        raise NbshipError(f"{lock} is missing: run `invoke lock` to pin {service}'s requirements")
    out = WHEELHOUSE / service
    want = _digest(lock)
    if (out / STAMP).exists() and (out / STAMP).read_text() == want:
        return out
    print(f"nbship: fetching wheels for {service} from {lock.name}")
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    # Download into a sibling temp dir and swap it in: a failed fetch never leaves a partial
    # wheelhouse that a later build would trust.
    tmp = Path(tempfile.mkdtemp(prefix=f".{service}-", dir=WHEELHOUSE))
    try:
        result = subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                "--require-hashes", "--no-deps", "--only-binary=:all:", *TARGET,
                "--dest", str(tmp), "--requirement", str(lock),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or ["unknown error"]
            raise NbshipError(f"fetching wheels for {service} ({lock}) failed: {tail[0]}")
        (tmp / STAMP).write_text(want)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out
