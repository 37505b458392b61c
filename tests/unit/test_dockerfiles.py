"""Every Dockerfile is linted, builds offline, and follows the project's image rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from nbship.catalogue import IMAGES
from nbship.paths import ROOT

DOCKERFILES = sorted(ROOT.glob("services/*/Dockerfile")) + sorted(
    ROOT.glob("deploy/images/*/Dockerfile")
)
DOCKERFILES.append(ROOT / "registry" / "Dockerfile")
APP_DOCKERFILES = [image.dockerfile for image in IMAGES if image.lock]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_finds_nothing(dockerfile: Path, hadolint_clean: Any) -> None:
    hadolint_clean(dockerfile)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_syntax_directive_that_would_pull_a_frontend(dockerfile: Path) -> None:
    first = dockerfile.read_text(encoding="utf-8").lstrip().splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first)


@pytest.mark.parametrize("dockerfile", APP_DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_app_images_are_multistage_nonroot_healthchecked_and_offline(dockerfile: Path) -> None:
    text = dockerfile.read_text(encoding="utf-8")
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert re.search(r"^USER 10001", text, re.M)
    assert "HEALTHCHECK" in text
    assert re.search(r"^CMD \[", text, re.M) and re.search(r"^ENTRYPOINT \[", text, re.M)
    # Python packages only from the hashed wheelhouse: no index, hashes required.
    assert "--no-index" in text and "--require-hashes" in text
    # Dependencies are installed before any service code is copied (cache-friendly layers).
    assert text.index("requirements.lock") < text.index("COPY services/common/nbship_common")
    # No secrets baked into the image's environment.
    env = " ".join(re.findall(r"^(?:ENV|ARG) .*(?:\n\s+.*)*", text, re.M))
    assert not re.search(r"PASSWORD|SECRET|TOKEN", env)
