"""The stamp layer's Dockerfile and the tag that finds a stamped image from its content key."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nbship import catalogue
from nbship.build import images, sbom

CONTENT = "sha256:" + "0123456789ab" + "f" * 52


def test_content_tag_is_derived_from_the_content_key_only() -> None:
    assert images.content_tag(CONTENT) == "content-0123456789ab"
    assert images.content_tag(CONTENT.removeprefix("sha256:")) == "content-0123456789ab"


def test_stamp_adds_sbom_labels_and_environment_from_the_content_image(
    tmp_path: Path, hadolint_clean: Any
) -> None:
    digest = hashlib.sha256(b"{}").hexdigest()
    labels = {images.VERSION_LABEL: "1.2.3-rc.1", images.CONTENT_LABEL: CONTENT}
    env = {"NBSHIP_VERSION": "1.2.3-rc.1", "NBSHIP_GIT_SHA": "abc123def456"}
    text = images.stamp_dockerfile(CONTENT, digest, labels, env)
    assert text.startswith(sbom.attach_dockerfile(CONTENT, digest))
    assert text.splitlines()[-2:] == [
        f'LABEL org.opencontainers.image.version="1.2.3-rc.1" io.nbship.content="{CONTENT}"',
        'ENV NBSHIP_VERSION="1.2.3-rc.1" NBSHIP_GIT_SHA="abc123def456"',
    ]
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text, encoding="utf-8")
    hadolint_clean(dockerfile)


def test_stamp_without_environment_sets_labels_only() -> None:
    """The database and broker get no NBSHIP_* environment: they serve no /version."""
    text = images.stamp_dockerfile(CONTENT, "0" * 64, {images.VERSION_LABEL: "15.10-0"}, {})
    assert "ENV" not in text
    assert text.splitlines()[-1] == 'LABEL org.opencontainers.image.version="15.10-0"'


def test_a_quote_in_a_label_value_stays_inside_it() -> None:
    text = images.stamp_dockerfile(CONTENT, "0" * 64, {"title": 'say "hi"'}, {})
    assert text.splitlines()[-1] == 'LABEL title="say \\"hi\\""'


def test_database_and_broker_name_the_package_they_are_versioned_by() -> None:
    packages = {image.name: image.package for image in catalogue.IMAGES}
    assert packages == {
        "api-gateway-app": None, "inventory-app": None, "billing-app": None,
        "postgres": "postgresql-15", "rabbitmq": "rabbitmq-server",
    }  # fmt: skip
    for image in catalogue.IMAGES:
        if image.package:
            assert f"install -y --no-install-recommends {image.package}" in (
                image.dockerfile.read_text(encoding="utf-8")
            )
