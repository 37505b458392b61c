"""The rules of the code base a test can hold: import-linter layers, one catalogue, mypy strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nbship.paths import ROOT


def test_every_import_linter_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_catalogue_and_the_compose_file_name_the_same_images() -> None:
    """One list: each image is the image of a compose service, each service runs one of them."""
    import yaml

    from nbship.catalogue import IMAGES, image_variable, stack_services
    from nbship.paths import COMPOSE_FILE

    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    assert set(stack_services()) == set(services)
    # "${NBSHIP_IMAGE_INVENTORY_APP:?run invoke deploy}" -> NBSHIP_IMAGE_INVENTORY_APP
    runs = {name: str(service["image"])[2:].split(":", 1)[0] for name, service in services.items()}
    variables = {image_variable(image.name) for image in IMAGES}
    assert set(runs.values()) == variables, runs


def test_mypy_strict_is_clean_over_src_and_services() -> None:
    """pyproject.toml's [tool.mypy] is strict and names both trees; `./nbship lint` runs it."""
    mypy = Path(sys.executable).parent / "mypy"
    result = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
