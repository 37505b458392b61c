"""SemVer rules: what a version may look like and which tags it moves."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nbship.errors import NbshipError
from nbship.version import DIRTY, dirty_files, docker_tag, parse, source_state, tags_for


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


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git checkout with one commit and an ignored build folder."""
    _git(tmp_path, "init", "--quiet")
    (tmp_path / ".gitignore").write_text("build/\n")
    (tmp_path / "app.py").write_text("print('v1')\n")
    (tmp_path / "old.txt").write_text("kept\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    return tmp_path


def test_a_clean_tree_builds_with_the_plain_sha(repo: Path) -> None:
    (repo / "build").mkdir()
    (repo / "build" / "image.log").write_text("ignored output is not a change\n")
    assert dirty_files(repo) == []
    assert source_state(allow_dirty=False, root=repo) == ""


def test_a_dirty_tree_is_refused_naming_every_kind_of_change(repo: Path) -> None:
    (repo / "app.py").write_text("print('v2')\n")
    (repo / "new.py").write_text("x = 1\n")
    (repo / "staged.py").write_text("y = 2\n")
    _git(repo, "add", "staged.py")
    (repo / "old.txt").unlink()
    assert dirty_files(repo) == ["app.py", "new.py", "old.txt", "staged.py"]
    with pytest.raises(NbshipError) as refused:
        source_state(allow_dirty=False, root=repo)
    message = str(refused.value)
    assert "\n" not in message
    assert "uncommitted changes in app.py, new.py, old.txt, staged.py" in message
    assert "--allow-dirty" in message


def test_a_dirty_tree_builds_as_dirty_only_when_allowed(repo: Path) -> None:
    (repo / "app.py").write_text("print('v2')\n")
    assert source_state(allow_dirty=True, root=repo) == DIRTY == "-dirty"


def test_a_long_list_of_changes_stays_one_line(repo: Path) -> None:
    for number in range(8):
        (repo / f"scratch{number}.py").write_text("\n")
    with pytest.raises(NbshipError, match=r"scratch4\.py and 3 more: commit or stash"):
        source_state(allow_dirty=False, root=repo)


def test_outside_a_git_checkout_the_build_says_so(tmp_path: Path) -> None:
    with pytest.raises(NbshipError, match="cannot read the git state"):
        dirty_files(tmp_path)


def test_a_docker_tag_reads_back_as_its_version_and_other_tags_do_not() -> None:
    from nbship.version import docker_tag, from_tag, parse, version_tags

    build = parse("1.2.3-rc.1+build.7")
    assert from_tag(docker_tag(build)) == build
    assert from_tag("latest") is None and from_tag("sha-0123abcd4567") is None
    tags = ["latest", "1.10.0", "1.2.0", "sha-abc", "1.2", "1.2.0-rc.1", "staging"]
    assert version_tags(tags) == ["1.2.0-rc.1", "1.2.0", "1.10.0"]
