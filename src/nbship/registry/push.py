"""Pushing built images to a registry, with immutable version tags, logging in first if needed."""

from __future__ import annotations

import semver

from nbship import docker
from nbship.catalogue import by_name
from nbship.errors import NbshipError
from nbship.registry.client import Registry, missing_credentials_hint
from nbship.version import DIRTY, docker_tag, tags_for

REVISION_LABEL = "org.opencontainers.image.revision"


def push(
    registry: Registry, version: semver.Version, names: list[str] | None = None, force: bool = False
) -> dict[str, str]:
    """Push every tag of VERSION's images; return image name -> digest.

    A version tag that already points at different content is refused unless FORCE: a version
    names one build forever. Pushing identical content again changes nothing. The sha-<git> tag
    is never moved either (unless FORCE): when it already names another build of the commit (say
    1.0.0-rc.1, rebuilt as 1.0.0), it stays on the first and the version tags are pushed. An
    image built from a dirty tree (revision <sha>-dirty) gets no sha- tag at all.
    """
    docker.ensure_daemon()
    images = by_name(names)
    tag = docker_tag(version)
    for image in images:
        if not docker.image_exists(image.ref(tag)):
            raise NbshipError(
                f"{image.ref(tag)} does not exist locally: run `invoke build --version {version}`"
            )
    login(registry)
    digests: dict[str, str] = {}
    for image in images:
        local = image.ref(tag)
        image_id = docker.image_id(local)
        revision = docker.docker(
            "image",
            "inspect",
            "--format",
            f'{{{{index .Config.Labels "{REVISION_LABEL}"}}}}',
            local,
        ).stdout.strip()
        remote = registry.remote(image.repository)
        existing = registry.config_digest(image.repository, tag)
        if existing == image_id:
            digest = registry.digest(image.repository, tag)
            print(f"  {image.name}: {tag} already in {registry.address} (same content) {digest}")
            digests[image.name] = str(digest)
            continue
        if existing is not None and not force:
            raise NbshipError(
                f"{remote}:{tag} already exists with different content; versions are immutable: "
                "bump the version (`invoke version.bump patch`) or push with --force"
            )
        for each in _tags(registry, image.repository, version, revision, image_id, force):
            docker.docker("tag", local, f"{remote}:{each}")
            docker.run(["docker", "push", "--quiet", f"{remote}:{each}"], capture=True)
        digest = registry.digest(image.repository, tag)
        if digest is None:
            raise NbshipError(f"pushed {remote}:{tag} but the registry does not list it")
        digests[image.name] = digest
        print(f"  {image.name}: {remote}:{tag} {digest}", flush=True)
    return digests


def _tags(
    registry: Registry,
    repository: str,
    version: semver.Version,
    revision: str,
    image_id: str,
    force: bool,
) -> list[str]:
    """The tags to push for one image: its version's, and sha-<git> when that is safe."""
    sha_tag = f"sha-{revision[:12]}"
    tags = [tag for tag in tags_for(version, revision[:12]) if tag != sha_tag]
    if not revision or revision.endswith(DIRTY):
        why = "built from uncommitted changes" if revision else "no revision label"
        print(f"  {repository}: no {sha_tag if revision else 'sha-'} tag ({why})")
        return tags
    existing = registry.config_digest(repository, sha_tag)
    if existing is not None and existing != image_id and not force:
        print(f"  {repository}: {sha_tag} already names another build of this commit; kept")
        return tags
    return [*tags, sha_tag]


def login(registry: Registry) -> None:
    """Log the Docker engine in to REGISTRY when it requires a login; check the API answers.

    The credentials are checked over the HTTP API first (one clear line when refused), then
    handed to `docker login --password-stdin`: never on a command line, never printed. Docker
    keeps the login (in ~/.docker/config.json, or $DOCKER_CONFIG) as a manual login would.
    """
    if not registry.requires_login():
        registry.ping()
        return
    credentials = registry.credentials()
    if credentials is None:
        raise NbshipError(
            f"the registry at {registry.host} requires a login: {missing_credentials_hint()}"
        )
    registry.ping()  # wrong credentials stop here, in one line, before docker sees them
    docker.run(
        ["docker", "login", "--username", credentials.username, "--password-stdin", registry.host],
        capture=True,
        input=credentials.password,
    )
    print(f"nbship: logged in to {registry.host} as {credentials.username} ({credentials.source})")
