"""What a stack's containers and volumes are called: the audit's names in the default stack.

The default compose project, "nbship", names its containers after their services
(`api-gateway-app`, `inventory-app`, ..., `rabbit-queue`) and its volumes as the
play-with-containers audit expects them (`inventory-database`, `billing-database`, and
`api-gateway-app` for the gateway's logs), so `docker kill billing-app` works as a user would type
it. Any other project (a staging stack, the tests' private stacks) puts its own name in front
(`nbship-it-1a2b3c4d-billing-app`), so stacks run side by side without a clash. This is the one
place that rule lives: compose reads the prefix from NBSHIP_NAME_PREFIX (deploy/compose.yaml),
which the stack's environment takes from here.

inventory-app and billing-app are replaced start-first: a second container of the service runs
before the old one stops, which compose refuses for a service with a fixed `container_name`. So
compose names those two itself (`PROJECT-SERVICE-N`) and `settle` renames the one left once a
switch is over.
"""

from __future__ import annotations

from nbship import docker

DEFAULT_PROJECT = "nbship"
PREFIX_VARIABLE = "NBSHIP_NAME_PREFIX"
# The services deploy/compose.yaml gives no container_name, renamed by settle instead.
RENAMED = ("inventory-app", "billing-app")
# The volumes of deploy/compose.yaml (their keys there) and their names in the default stack.
VOLUMES = {
    "inventory-db-data": "inventory-database",
    "billing-db-data": "billing-database",
    "gateway-logs": "api-gateway-app",
    "rabbit-data": "rabbit-queue",
}


def prefix(project: str) -> str:
    """What goes in front of every container and volume name of PROJECT's stack."""
    return "" if project == DEFAULT_PROJECT else f"{project}-"


def container(project: str, service: str) -> str:
    """The name of SERVICE's container in PROJECT's compose stack."""
    return prefix(project) + service


def volume(project: str, key: str) -> str:
    """The Docker name of the volume that deploy/compose.yaml calls KEY, in PROJECT's stack."""
    return prefix(project) + VOLUMES[key]


def compose_variables(project: str) -> dict[str, str]:
    """The variables deploy/compose.yaml reads to name PROJECT's containers and volumes."""
    return {PREFIX_VARIABLE: prefix(project)}


def settle(project: str) -> None:
    """Rename each RENAMED service's container to its name, once it is the service's only one.

    While two run (a start-first replacement), nothing is renamed; a name held by a container of
    another project is left alone, with a warning.
    """
    for service in RENAMED:
        found = docker.docker(
            "ps", "--all", "--quiet",
            "--filter", f"label=com.docker.compose.project={project}",
            "--filter", f"label=com.docker.compose.service={service}",
            "--filter", "label=com.docker.compose.oneoff=False",
        ).stdout.split()  # fmt: skip
        if len(found) != 1:
            continue
        name = container(project, service)
        current = docker.docker("inspect", "--format", "{{.Name}}", found[0]).stdout.strip()
        if current.lstrip("/") == name:
            continue
        renamed = docker.docker("rename", found[0], name, check=False)
        if renamed.returncode != 0:
            print(
                f"nbship: warning: {service}'s container keeps its name {current.lstrip('/')}: "
                f"{renamed.stderr.strip()}"
            )
