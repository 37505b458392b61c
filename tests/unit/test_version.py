"""SemVer rules: what a version may look like and which tags it moves."""

from __future__ import annotations

import pytest

from nbship.errors import NbshipError
from nbship.version import docker_tag, parse, tags_for


def test_final_release_moves_minor_major_and_latest() -> None:
    assert tags_for(parse("1.4.2"), "abc123") == ["1.4.2", "1.4", "1", "latest", "sha-abc123"]


@pytest.mark.parametrize("text", ["2.0.0-rc.1", "1.4.3-beta", "1.4.2+build.7"])
def test_prerelease_or_build_never_moves_shared_tags(text: str) -> None:
    tags = tags_for(parse(text), "abc123")
    assert tags == [docker_tag(parse(text)), "sha-abc123"]
    assert not {"latest", "1", "2", "1.4", "2.0"} & set(tags)


def test_build_metadata_becomes_a_valid_docker_tag() -> None:
    assert docker_tag(parse("1.4.2+build.7")) == "1.4.2_build.7"


def test_leading_v_is_accepted() -> None:
    assert str(parse("v1.2.3")) == "1.2.3"


@pytest.mark.parametrize("text", ["1.2", "01.2.3", "1.2.3.4", "banana", "", "1.2.3-", "latest"])
def test_non_semver_is_refused_with_the_value_named(text: str) -> None:
    with pytest.raises(NbshipError, match=r"not a SemVer 2\.0 version") as caught:
        parse(text)
    assert repr(text) in str(caught.value)
