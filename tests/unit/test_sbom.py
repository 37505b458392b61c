"""The SBOM document is deterministic, and the one inside an image is checked against its label."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from nbship.build import sbom
from nbship.errors import NbshipError

CREATED = datetime.fromisoformat("2026-01-02T03:04:05+00:00")
PYTHON = [("flask", "3.1.3"), ("gunicorn", "23.0.0")]
DEBIAN = [("libc6", "2.36-9+deb12u9", "amd64"), ("dash", "0.5.12-2", "amd64")]


def make(
    name: str = "api-gateway-app",
    version: str = "1.2.3",
    python: list[tuple[str, str]] = PYTHON,
    debian: list[tuple[str, str, str]] = DEBIAN,
    created: datetime = CREATED,
) -> str:
    """The document for a fixed image, with some of its inputs changed."""
    return sbom.document(name, version, python, debian, created)


def serial(text: str) -> uuid.UUID:
    return uuid.UUID(json.loads(text)["serialNumber"].removeprefix("urn:uuid:"))


def test_same_inputs_give_byte_identical_documents() -> None:
    assert make() == make()
    # The order packages are listed in does not matter either.
    assert make(python=PYTHON[::-1], debian=DEBIAN[::-1]) == make()


def test_document_is_dated_at_the_given_time_with_a_content_derived_serial() -> None:
    parsed = json.loads(make())
    assert datetime.fromisoformat(parsed["metadata"]["timestamp"]) == CREATED
    assert serial(make()).version == 5
    assert {c["purl"] for c in parsed["components"]} >= {
        "pkg:pypi/flask@3.1.3",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=debian-12",
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "billing-app"},
        {"version": "1.2.4"},
        {"python": [("flask", "3.1.2"), ("gunicorn", "23.0.0")]},
        {"python": PYTHON[:1]},
        {"debian": [*DEBIAN, ("zlib1g", "1:1.2.13.dfsg-1", "amd64")]},
        {"created": datetime.fromisoformat("2026-01-02T03:04:06+00:00")},
    ],
    ids=["name", "version", "python-version", "python-removed", "debian-added", "created"],
)
def test_different_inputs_give_a_different_serial(changes: dict[str, Any]) -> None:
    assert serial(make(**changes)) != serial(make())


def test_attach_dockerfile_copies_the_sbom_and_labels_it_without_a_syntax_line(
    tmp_path: Path, hadolint_clean: Any
) -> None:
    digest = hashlib.sha256(b"{}").hexdigest()
    text = sbom.attach_dockerfile("nbship/billing-app:1.2.3", digest)
    assert text.splitlines() == [
        "FROM nbship/billing-app:1.2.3",
        "COPY sbom.cdx.json /usr/share/nbship/sbom.cdx.json",
        f'LABEL io.nbship.sbom="/usr/share/nbship/sbom.cdx.json" io.nbship.sbom.sha256="{digest}"',
    ]
    assert not re.match(r"#\s*syntax\s*=", text)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text, encoding="utf-8")
    hadolint_clean(dockerfile)


def labels_for(content: bytes) -> dict[str, str]:
    return {sbom.PATH_LABEL: sbom.IMAGE_PATH, sbom.SHA256_LABEL: sbom.sha256(content)}


def test_sbom_matching_its_label_is_returned() -> None:
    content = make().encode()
    assert sbom.verified("nbship/x:1", labels_for(content), content) == make()


def test_sbom_not_matching_its_label_is_refused_naming_the_image() -> None:
    labels = labels_for(make().encode())
    with pytest.raises(NbshipError, match=r"^nbship/x:1: the SBOM at /usr/share/nbship/sbom"):
        sbom.verified("nbship/x:1", labels, make(version="9.9.9").encode())


def test_image_without_sbom_labels_is_refused_naming_the_image() -> None:
    with pytest.raises(NbshipError, match=r"^nbship/x:1 has no SBOM attached"):
        sbom.verified("nbship/x:1", {"org.opencontainers.image.version": "1"}, b"{}")


def test_python_packages_are_read_from_a_hashed_lock(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# comment\n"
        "Flask==3.1.3 \\\n    --hash=sha256:aa\n"
        "gunicorn[gevent]==23.0.0 ; python_version >= '3.8' \\\n    --hash=sha256:bb\n",
        encoding="utf-8",
    )
    assert sbom.python_packages(lock) == [("flask", "3.1.3"), ("gunicorn", "23.0.0")]
