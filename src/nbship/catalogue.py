"""The catalogue: the services of the stack and the images nbship builds for them, in one place.

Every stage reads it: build makes these images, push and promote move them, deploy pins each to a
digest. The stack's services themselves are the keys of deploy/compose.yaml (the file compose and
Swarm run), so there is no second list to keep in step; a unit test checks that every image here
is the image of a compose service and every compose service runs an image from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from nbship.errors import NbshipError
from nbship.paths import COMPOSE_FILE, DEPLOY, SERVICES

NAMESPACE = "nbship"
# On an app image with migrations: the Alembic revision its code expects (its migrations' head).
SCHEMA_LABEL = "io.nbship.schema.head"
# ... and its migrations: {revision: [[down revisions], "expand" or "contract"]}, as JSON.
MIGRATIONS_LABEL = "io.nbship.schema.migrations"


@dataclass(frozen=True)
class Image:
    """One image of the stack: its repository name and where its Dockerfile lives."""

    name: str
    folder: Path
    # The database and broker carry their Debian package's version, not the app's release.
    package: str | None = None
    # The compose service of the database this app's Alembic migrations run on.
    database: str | None = None

    @property
    def dockerfile(self) -> Path:
        return self.folder / "Dockerfile"

    @property
    def lock(self) -> Path | None:
        lock = self.folder / "requirements.lock"
        return lock if lock.exists() else None

    @property
    def migrations(self) -> Path | None:
        """The app's Alembic migrations folder, when it has a database."""
        return self.folder / "migrations" if self.database else None

    @property
    def repository(self) -> str:
        return f"{NAMESPACE}/{self.name}"

    def ref(self, tag: str) -> str:
        return f"{self.repository}:{tag}"


IMAGES: tuple[Image, ...] = (
    Image("api-gateway-app", SERVICES / "api-gateway"),
    Image("inventory-app", SERVICES / "inventory", database="inventory-db"),
    Image("billing-app", SERVICES / "billing", database="billing-db"),
    Image("postgres", DEPLOY / "images" / "postgres", package="postgresql-15"),
    Image("rabbitmq", DEPLOY / "images" / "rabbitmq", package="rabbitmq-server"),
)


def by_name(names: list[str] | None = None) -> list[Image]:
    """The images named (all when None), refusing unknown names."""
    if not names:
        return list(IMAGES)
    known = {image.name: image for image in IMAGES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise NbshipError(f"unknown image {unknown[0]!r}; known: {', '.join(known)}")
    return [known[name] for name in names]


def image_variable(image_name: str) -> str:
    """The compose variable that carries an image's reference: NBSHIP_IMAGE_INVENTORY_APP."""
    return "NBSHIP_IMAGE_" + image_name.upper().replace("-", "_")


@cache
def stack_services(compose_file: Path = COMPOSE_FILE) -> tuple[str, ...]:
    """Every service of the compose file: all must be running and healthy for a release to count."""
    import yaml  # only deploy and its tests need the compose file; keep `invoke --list` light

    try:
        document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise NbshipError(f"cannot read the stack from {compose_file}: {exc}") from exc
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict) or not services:
        raise NbshipError(f"{compose_file} has no `services:` mapping")
    return tuple(services)
