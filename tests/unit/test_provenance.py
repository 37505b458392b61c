"""Provenance by construction: the build hashes the generated code it ships and refuses stale
exports. The image side (the label equals the hash of the files inside the image) is checked in
tests/integration/test_images.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nbship.build.images import provenance, require_fresh_exports, shipped_modules
from nbship.catalogue import by_name
from nbship.errors import NbshipError
from nbship.notebooks.extract import build_modules, generated_header, load_exports
from nbship.paths import ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what extraction reads and writes: notebooks, services, ruff's configuration."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copytree(
        ROOT / "services", tmp_path / "services", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_header_read_back_names_the_notebook_and_cells_extraction_wrote() -> None:
    for target in load_exports(ROOT):
        for module in build_modules(ROOT, target):
            assert generated_header(module.text) == (target.notebook.as_posix(), module.cell_ids)
    assert generated_header('"""A hand-written module."""\n') is None


def test_fresh_exports_pass(project: Path) -> None:
    require_fresh_exports(project)


def test_an_exported_cell_edited_without_extraction_stops_the_build(project: Path) -> None:
    path = project / "notebooks" / "01_inventory_search.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cell = next(c for c in notebook["cells"] if c.get("id") == "normalize-title")
    cell["source"] = "".join(cell["source"]) + "\n# (edited) after the last extraction\n"
    path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
    with pytest.raises(NbshipError) as refused:
        require_fresh_exports(project)
    message = str(refused.value)
    assert "services/inventory/inventory/search.py" in message
    assert "invoke nb.extract" in message
    assert "+# (edited) after the last extraction" in message  # the diff is shown


def test_the_cells_hash_changes_with_the_shipped_file_not_with_the_notebook() -> None:
    inventory = by_name(["inventory-app"])[0]
    shipped = [path for path in shipped_modules(inventory) if path.name == "search.py"]
    assert shipped == [ROOT / "services/inventory/inventory/search.py"]
    made_from = provenance(inventory)
    assert "01_inventory_search.ipynb:search-module" in made_from["NBSHIP_CELLS"]
    assert "02_billing_orders.ipynb:orders-module" in made_from["NBSHIP_CELLS"]
    assert by_name(["postgres"])[0].lock is None and provenance(by_name(["postgres"])[0]) == {}
