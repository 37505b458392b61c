"""The benchmark report: docs/benchmarks.md, its PNG plots and the README table, from results."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from nbship.errors import NbshipError
from nbship.paths import ROOT
from nbship_bench import report, results
from nbship_bench.results import Metric, Result

# The shape results had before load, steal and ratio baselines were recorded (bench/results of
# commit d6d2d72): it must still read, and say what it lacks.
OLD_FORMAT = {
    "benchmark": "billing",
    "title": "Billing orders end to end and backlog drain",
    "date": "2026-12-01T09:28:51+00:00",
    "git": {"sha": "df4ac0805b1c", "dirty": False},
    "machine": {"cpus": 2, "cpu_model": "Intel(R) Xeon(R) Processor", "memory_gb": 23.5},
    "parameters": {"orders": 10000},
    "metrics": [
        {"name": "end-to-end orders/s", "value": 1390.7, "unit": "orders/s", "target": 1000.0,
         "op": ">=", "passed": True},
    ],
    "targets_met": True,
    "notes": [],
    "raw": {},
}  # fmt: skip


def test_old_format_result_reads_and_says_load_was_not_recorded(tmp_path: Path) -> None:
    (tmp_path / "billing.json").write_text(json.dumps(OLD_FORMAT))
    [old] = results.load_all(tmp_path)
    assert old.metrics[0].passed is True
    assert (old.metrics[0].measured, old.metrics[0].baseline) == (None, None)
    assert old.load == {}
    assert results.describe_machine(old) == (
        "2 cores, Intel(R) Xeon(R) Processor; load and steal not recorded"
    )


README_TEXT = f"""# Project

## Benchmarks

Intro that stays.

{report.README_START}
old table
{report.README_END}

Prose that stays.
"""


def billing_run(sha: str, date: str, e2e: float, naive: float) -> Result:
    return Result(
        name="billing",
        title="Billing orders end to end and backlog drain",
        parameters={"orders": 2000},
        metrics=[
            results.ratio("end to end / naive pipeline", e2e, naive, "orders/s", target=2.0),
            Metric("end-to-end orders/s", e2e, "orders/s"),
            Metric("lag after the last post", 0.05, "s"),
        ],
        notes=["small run"],
        date=date,
        git={"sha": sha, "dirty": False},
        machine={"cpus": 2, "cpu_model": "Test CPU"},
        load={
            "loadavg_1m_start": 0.4,
            "loadavg_1m_end": 1.9,
            "steal_percent": 3.2,
            "busy_percent": 71.0,
        },
    )


def gateway_run() -> Result:
    return Result(
        name="gateway",
        title="Gateway overhead",
        parameters={},
        metrics=[Metric("p50 / direct", 1.28, "x", target=1.5, op="<=")],
        date="2026-12-01T09:28:31+00:00",
        git={"sha": "df4ac0805b1c"},
        machine={"cpus": 2},
    )


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """A git repository whose results folder has two committed billing runs (an old-format
    file, then a new one), one uncommitted billing run on top, and a single gateway run."""
    directory = tmp_path / "repo" / "bench" / "results"
    directory.mkdir(parents=True)
    git(tmp_path / "repo", "init", "-q")
    (directory / "billing.json").write_text(json.dumps(OLD_FORMAT))
    git(tmp_path / "repo", "add", ".")
    git(tmp_path / "repo", "commit", "-q", "-m", "old")
    results.write(billing_run("1111111aaaaa", "2026-12-03T10:00:00+00:00", 1200, 400), directory)
    results.write(gateway_run(), directory)
    git(tmp_path / "repo", "add", ".")
    git(tmp_path / "repo", "commit", "-q", "-m", "new")
    results.write(billing_run("2222222bbbbb", "2026-12-05T10:00:00+00:00", 900, 500), directory)
    (directory / "notes.json").write_text('{"not": "a result"}')
    return directory


def render(results_dir: Path, tmp_path: Path) -> tuple[str, Path]:
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT)
    docs = tmp_path / "docs" / "benchmarks.md"
    report.render(results_dir, docs, readme)
    return docs.read_text(), docs


def test_plots_are_valid_pngs_one_per_benchmark(results_dir: Path, tmp_path: Path) -> None:
    text, docs = render(results_dir, tmp_path)
    for name in ("billing", "gateway"):
        png = docs.parent / "benchmarks" / f"{name}.png"
        assert f"![{name}](benchmarks/{name}.png)" in text
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG"
            assert image.size[0] > 300 and image.size[1] > 200


def test_table_has_target_measured_baseline_and_ratio(results_dir: Path, tmp_path: Path) -> None:
    text, _ = render(results_dir, tmp_path)
    assert "| Benchmark | Metric | Target | Measured | Baseline | Ratio | Result |" in text
    # The latest billing run: 900 against 500 orders/s is 1.80x, under its 2x target.
    assert (
        "| billing | end to end / naive pipeline | ≥ 2.00 x | 900 orders/s | 500 orders/s "
        "| 1.80 x | MISSED |"
    ) in text
    assert "| billing | end-to-end orders/s |  | 900 orders/s |  |  |  |" in text
    # A ratio from before the absolute figures were kept beside it has only its ratio.
    assert "| gateway | p50 / direct | ≤ 1.50 x |  |  | 1.28 x | met |" in text


def test_history_spans_the_committed_versions_and_the_working_file(
    results_dir: Path, tmp_path: Path
) -> None:
    text, _ = render(results_dir, tmp_path)
    billing = text[text.index("(`billing`)") : text.index("(`gateway`)")]
    assert "3 recorded runs, oldest first:" in billing
    header = next(line for line in billing.splitlines() if line.startswith("| Metric"))
    assert header.index("df4ac0805b1c") < header.index("1111111aaaaa") < header.index("2222222")
    assert "| end to end / naive pipeline | ≥ 2.00 x |  | 3.00 x | 1.80 x |" in billing
    # The old file judged the absolute rate against 1,000/s: that history is plotted too.
    assert "| end-to-end orders/s |  | 1,391 orders/s | 1,200 orders/s | 900 orders/s |" in billing


def test_a_single_run_is_reported_as_such(results_dir: Path, tmp_path: Path) -> None:
    text, _ = render(results_dir, tmp_path)
    assert "Only one run is recorded (commit df4ac0805b1c): no history yet." in text


def test_machine_table_shows_cores_load_and_steal(results_dir: Path, tmp_path: Path) -> None:
    text, _ = render(results_dir, tmp_path)
    assert "2 cores, Test CPU; load 0.4 → 1.9, steal 3.2 %, busy 71.0 %" in text
    assert "| gateway | 2026-12-01T09:28:31+00:00 | df4ac0805b1c | 2 cores; load and steal" in text


def test_readme_table_is_replaced_between_markers_only(results_dir: Path, tmp_path: Path) -> None:
    render(results_dir, tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert "old table" not in readme
    assert readme.startswith("# Project\n\n## Benchmarks\n\nIntro that stays.\n\n")
    assert readme.endswith(f"{report.README_END}\n\nProse that stays.\n")
    assert "| billing | end to end / naive pipeline | ≥ 2.00 x | 900 orders/s |" in readme
    # Only judged figures go to the README; the rest are in docs/benchmarks.md.
    assert "lag after the last post" not in readme
    assert "- billing: 2026-12-05, commit 2222222bbbbb; 2 cores, Test CPU; load 0.4" in readme


def test_rendering_twice_gives_the_same_files(results_dir: Path, tmp_path: Path) -> None:
    _, docs = render(results_dir, tmp_path)
    first = {path: path.read_bytes() for path in docs.parent.rglob("*") if path.is_file()}
    render(results_dir, tmp_path)
    assert {path: path.read_bytes() for path in first} == first


def test_readme_without_markers_fails_and_writes_nothing(results_dir: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Project\n\nno markers\n")
    docs = tmp_path / "docs" / "benchmarks.md"
    with pytest.raises(NbshipError, match=r"README\.md: the benchmark table markers are missing"):
        report.render(results_dir, docs, readme)
    assert not docs.parent.exists()
    assert readme.read_text() == "# Project\n\nno markers\n"


def test_no_results_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NbshipError, match="no benchmark result files"):
        report.render(tmp_path, tmp_path / "docs" / "benchmarks.md", None)


def test_outside_git_only_the_files_count(tmp_path: Path) -> None:
    results.write(gateway_run(), tmp_path)
    [gateway] = report.collect(tmp_path)
    assert len(gateway.runs) == 1


def test_the_projects_own_results_render_with_their_history(tmp_path: Path) -> None:
    """The committed bench/results, old format and git history included, render as they are."""
    docs = tmp_path / "benchmarks.md"
    report.render(results.RESULTS_DIR, docs, None)
    text = docs.read_text()
    for name in ("audit", "billing", "gateway", "rebuild", "size"):
        assert f"(`{name}`)" in text
        with Image.open(tmp_path / "benchmarks" / f"{name}.png") as image:
            image.verify()
    assert ROOT.joinpath("README.md").read_text().count(report.README_START) == 1
