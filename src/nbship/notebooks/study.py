"""The study: the static audit run on real notebooks from public repositories, against a manifest.

Their notebooks are not ours to commit, so the manifest (notebooks/study/manifest.json) records
each repository's commit, every notebook's path and the findings the audit is expected to give
on it; the notebooks themselves are fetched into build/study (git-ignored) with git, at exactly
those commits. Re-running the study audits them again and reports every notebook whose findings
changed, so that a change to the audit shows what it does to notebooks in the wild.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbship.errors import NbshipError
from nbship.files import atomic_write

MANIFEST = Path("notebooks") / "study" / "manifest.json"
CORPUS = Path("build") / "study" / "corpus"
GIT_DIR = Path("build") / "study" / "git"
PEERS = Path("build") / "study" / "peers.json"
# Where the repositories come from; {owner} and {name} are filled in. Point it at mirrors (a
# local path works: git fetches from a bare repository on disk) where GitHub is not reachable.
URL_TEMPLATE_ENV = "NBSHIP_STUDY_GIT_URL"
DEFAULT_URL_TEMPLATE = "https://github.com/{owner}/{name}.git"
_UPLOAD_PACK = (
    "git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack"
)
# Findings that describe a notebook rather than fault it; kept in the manifest all the same.
SUMMARY_CHECKS = ("out-of-order", "skipped-count", "hidden-state", "undefined-name", "syntax")


@dataclass
class Repository:
    """One public repository of the study, pinned to a commit."""

    repo: str
    commit: str
    kind: str

    @property
    def folder(self) -> str:
        """The repository's folder name under the corpus: owner+name, as GitHub spells them."""
        return self.repo.replace("/", "+")


@dataclass
class Entry:
    """One notebook of the study and the findings the audit should give on it."""

    repo: str
    path: str
    expected: dict[str, Any]
    hand: str | None = None  # what a person saw when checking this notebook's findings by hand


@dataclass
class Manifest:
    """The repositories and notebooks of the study."""

    repositories: list[Repository]
    notebooks: list[Entry]
    about: str = ""

    def repository(self, repo: str) -> Repository:
        """The repository entry called ``repo``."""
        for repository in self.repositories:
            if repository.repo == repo:
                return repository
        raise NbshipError(f"manifest: notebook of unknown repository {repo!r}")


@dataclass
class Difference:
    """One notebook whose audit no longer matches the manifest."""

    repo: str
    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.repo}:{self.path}: {self.what}"


@dataclass
class StudyResult:
    """What re-running the study found."""

    observed: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def load_manifest(path: Path) -> Manifest:
    """Read the manifest at ``path``; a broken one is one clear error naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        repositories = [Repository(**item) for item in data["repositories"]]
        notebooks = [Entry(**item) for item in data["notebooks"]]
    except FileNotFoundError as exc:
        raise NbshipError(f"{path}: no study manifest") from exc
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise NbshipError(f"{path}: malformed study manifest: {exc}") from exc
    return Manifest(repositories, notebooks, data.get("about", ""))


def save_manifest(manifest: Manifest, path: Path) -> None:
    """Write ``manifest`` to ``path`` in a stable order, so that updates diff well."""
    data = {
        "about": manifest.about,
        "repositories": [vars(repository) for repository in manifest.repositories],
        "notebooks": [
            {key: value for key, value in vars(entry).items() if value is not None}
            for entry in sorted(manifest.notebooks, key=lambda e: (e.repo, e.path))
        ],
    }
    atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def url_for(repo: str, template: str | None = None) -> str:
    """The git URL of ``repo`` (owner/name) from the template, by default GitHub's."""
    owner, name = repo.split("/", 1)
    template = template or os.environ.get(URL_TEMPLATE_ENV) or DEFAULT_URL_TEMPLATE
    return template.format(owner=owner, name=name, repo=repo)


def fetch(manifest: Manifest, root: Path, template: str | None = None) -> list[Path]:
    """Bring every notebook of the manifest into the corpus at its pinned commit.

    Only the pinned commit is fetched (shallow), and only the manifest's notebooks are written out:
    the corpus is exactly the study, whatever else the repository holds.
    """
    written = []
    for repository in manifest.repositories:
        paths = [entry.path for entry in manifest.notebooks if entry.repo == repository.repo]
        git_dir = root / GIT_DIR / repository.folder
        _fetch_commit(git_dir, url_for(repository.repo, template), repository.commit)
        for path in paths:
            blob = _git(git_dir, "show", f"{repository.commit}:{path}", binary=True)
            target = root / CORPUS / repository.folder / path
            _write_bytes(target, blob)
            written.append(target)
    return written


def _write_bytes(path: Path, data: bytes) -> None:
    # Byte for byte as committed (no newline translation); renamed into place so that an
    # interrupted fetch leaves no half-written notebook. No fsync: the corpus can be re-fetched.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _fetch_commit(git_dir: Path, url: str, commit: str) -> None:
    """Fetch ``commit`` without its files (a partial clone); ``git show`` then fetches each
    notebook it is asked for, so the corpus never downloads a repository's data sets."""
    if not (git_dir / "HEAD").exists():
        git_dir.mkdir(parents=True, exist_ok=True)
        _git(git_dir, "init", "--bare", "--quiet")
        _git(git_dir, "remote", "add", "origin", url)
        _git(git_dir, "config", "remote.origin.promisor", "true")
        _git(git_dir, "config", "remote.origin.partialclonefilter", "blob:none")
        # A mirror on disk serves filters and pinned commits only when told to; servers reached
        # over HTTPS (GitHub) ignore this setting and allow both by themselves.
        _git(git_dir, "config", "remote.origin.uploadpack", _UPLOAD_PACK)
    _git(git_dir, "remote", "set-url", "origin", url)
    have = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if have.returncode != 0:
        _git(git_dir, "fetch", "--quiet", "--depth", "1", "--filter=blob:none", "origin", commit)


def _git(git_dir: Path, *args: str, binary: bool = False) -> Any:
    try:
        done = subprocess.run(
            ["git", "--git-dir", str(git_dir), *args], capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise NbshipError("the study needs git on PATH to fetch its repositories") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        reason = message[-1] if message else f"exit status {done.returncode}"
        raise NbshipError(f"git {args[0]} in {git_dir.name} failed: {reason}")
    return done.stdout if binary else done.stdout.decode()


def corpus_paths(manifest: Manifest, root: Path) -> list[Path]:
    """The manifest's notebooks as files in the corpus, whether fetched or not."""
    return [notebook_path(entry, root) for entry in manifest.notebooks]


def notebook_path(entry: Entry, root: Path) -> Path:
    """Where ``entry`` lives once fetched."""
    return root / CORPUS / entry.repo.replace("/", "+") / entry.path


def observe(audit: Any) -> dict[str, Any]:
    """The figures of one notebook's static audit that the manifest records."""
    checks = Counter(finding.check for finding in audit.findings)
    return {
        "readable": audit.readable,
        "language": audit.language,
        "code_cells": len(audit.points),
        "out_of_order": audit.out_of_order,
        "findings": dict(sorted(checks.items())),
    }


def audit_corpus(manifest: Manifest, root: Path) -> StudyResult:
    """Audit every fetched notebook of the study statically and compare with the manifest."""
    import time

    from nbship.notebooks.audit import audit_notebook

    result = StudyResult()
    started = time.perf_counter()
    for entry in manifest.notebooks:
        path = notebook_path(entry, root)
        if not path.is_file():
            result.missing.append((entry.repo, entry.path))
            continue
        try:
            found = observe(audit_notebook(path, execute=False, display=entry.path))
        except Exception as exc:  # the study exists to find these: record it, audit the rest
            found = {"crash": f"{type(exc).__name__}: {exc}"}
        result.observed[entry.repo, entry.path] = found
        result.differences.extend(compare(entry, found))
    result.seconds = time.perf_counter() - started
    return result


def compare(entry: Entry, found: dict[str, Any]) -> list[Difference]:
    """How the audit of ``entry`` differs from what the manifest expects, one line per change."""
    expected = entry.expected
    if expected.get("crash") != found.get("crash"):
        # A crash has no other figures to compare; its coming or going is the one news.
        what = f"crash was {expected.get('crash')!r}, now {found.get('crash')!r}"
        return [Difference(entry.repo, entry.path, what)]
    differences = []
    for key in ("readable", "language", "code_cells", "out_of_order"):
        if expected.get(key) != found.get(key):
            what = f"{key} was {expected.get(key)!r}, now {found.get(key)!r}"
            differences.append(Difference(entry.repo, entry.path, what))
    was, now = expected.get("findings", {}), found.get("findings", {})
    for check in sorted(set(was) | set(now)):
        if was.get(check, 0) != now.get(check, 0):
            what = f"{check} findings were {was.get(check, 0)}, now {now.get(check, 0)}"
            differences.append(Difference(entry.repo, entry.path, what))
    return differences


def update(manifest: Manifest, result: StudyResult) -> Manifest:
    """The manifest with every audited notebook's expected findings replaced by the observed."""
    notebooks = [
        Entry(e.repo, e.path, result.observed.get((e.repo, e.path), e.expected), e.hand)
        for e in manifest.notebooks
    ]
    return Manifest(manifest.repositories, notebooks, manifest.about)


def figures(observed: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The shares the published studies report, over the readable notebooks with code."""
    notebooks = [nb for nb in observed if nb.get("readable")]
    executed = [
        nb for nb in notebooks if "never-executed" not in nb["findings"] and nb["code_cells"]
    ]
    python = [nb for nb in notebooks if nb["language"] == "python"]

    def having(group: list[dict[str, Any]], check: str) -> dict[str, Any]:
        count = sum(1 for nb in group if nb["findings"].get(check))
        return {"count": count, "of": len(group), "share": _share(count, len(group))}

    return {
        "notebooks": len(notebooks),
        "executed": len(executed),
        "out_of_order": having(executed, "out-of-order"),
        "skipped_counts": having(executed, "skipped-count"),
        "hidden_state": having(python, "hidden-state"),
        "undefined_names": having(python, "undefined-name"),
        "unparsable_cells": having(python, "syntax"),
    }


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def render(manifest: Manifest, result: StudyResult, limit: int = 40) -> str:
    """The study's outcome for a terminal: notebooks per repository, figures, differences."""
    lines = []
    for repository in manifest.repositories:
        entries = [e for e in manifest.notebooks if e.repo == repository.repo]
        audited = sum((e.repo, e.path) in result.observed for e in entries)
        lines.append(
            f"{repository.repo} @ {repository.commit[:12]} ({repository.kind}): "
            f"{audited}/{len(entries)} notebooks audited"
        )
    shares = figures(result.observed.values())
    crashes = sum("crash" in found for found in result.observed.values())
    lines.append(
        f"{len(result.observed)} notebooks audited in {result.seconds:.2f} s; "
        f"{len(result.missing)} not fetched; {crashes} crashed the audit"
    )
    for name in ("out_of_order", "skipped_counts", "hidden_state", "undefined_names"):
        figure = shares[name]
        lines.append(
            f"  {name.replace('_', ' ')}: {figure['count']}/{figure['of']} ({figure['share']} %)"
        )
    shown = result.differences if limit <= 0 else result.differences[:limit]
    lines.extend(f"differs: {difference}" for difference in shown)
    if len(shown) < len(result.differences):
        lines.append(f"... and {len(result.differences) - len(shown)} more differences")
    if not result.differences and result.observed:
        lines.append("every audited notebook matches the manifest")
    return "\n".join(lines)


def run_peers(manifest: Manifest, root: Path, bin_dir: Path) -> str:
    """Run nbship, nborder and nbqa + pyflakes on the fetched corpus; save and tabulate."""
    from nbship.notebooks import peers

    paths = [path for path in corpus_paths(manifest, root) if path.is_file()]
    runs = [
        peers.run_nbship(paths),
        peers.run_nborder(paths, bin_dir),
        peers.run_nbqa_pyflakes(paths, bin_dir),
    ]
    rows = peers.compare(runs, paths)
    saved = root / PEERS
    saved.parent.mkdir(parents=True, exist_ok=True)
    document = {"notebooks": len(paths), "rows": rows, "runs": [run.to_dict() for run in runs]}
    atomic_write(saved, json.dumps(document, indent=1) + "\n")
    header = ["tool", *peers.KINDS, "not checked", "seconds", "cpu seconds"]
    lines = [" | ".join(header)]
    lines.extend(" | ".join(str(row[column]) for column in header) for row in rows)
    return "\n".join([f"{len(paths)} notebooks; notebooks flagged (findings):", *lines])


# --- Re-running a sample of the study in a fresh kernel --------------------------------------

RUNS = Path("build") / "study" / "runs.json"
# The published figures the re-run sample is set beside (Pimentel et al., MSR 2019).
# Seconds a whole notebook may run in the re-run sample, on top of the per-cell timeout.
NOTEBOOK_BUDGET = 90
PUBLISHED = {"runs_without_error": 24.11, "reproduced": 4.03}


@dataclass
class Selection:
    """The notebooks of the study that can be re-run here, and why each other one cannot."""

    chosen: list[Entry] = field(default_factory=list)
    excluded: dict[tuple[str, str], str] = field(default_factory=dict)

    def reasons(self) -> Counter[str]:
        """How many notebooks were left out for each reason (missing modules counted apart)."""
        return Counter(reason.split(":")[0] for reason in self.excluded.values())

    def missing_modules(self) -> Counter[str]:
        """For each module not installed here, how many notebooks it kept out of the sample."""
        counts: Counter[str] = Counter()
        for reason in self.excluded.values():
            if reason.startswith("imports modules not installed:"):
                counts.update(reason.split(":", 1)[1].split())
        return counts


def why_not_runnable(path: Path, installed: Any = None) -> str | None:
    """Why the notebook at ``path`` cannot be re-run here, or None when it can.

    A notebook can be re-run when it is a readable Python 3 notebook with saved outputs to
    compare against, every code cell parses as Python 3 (after IPython turns its magics and
    shell escapes into calls), and every module it imports, anywhere, is installed in this
    interpreter: the environment the python3 kernel of `nb.audit` runs in. ``installed`` tells
    whether a top-level module is installed (by default: importlib can find it).
    """
    from IPython.core.inputtransformer2 import TransformerManager

    from nbship.notebooks.reading import NotebookError, kernel_language, read_notebook

    installed = installed or _installed
    try:
        nb = read_notebook(path)
    except NotebookError:
        return "unreadable"
    if kernel_language(nb) != "python":
        return "not a Python kernel"
    code = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]
    if not any(cell.get("execution_count") is not None for cell in code):
        return "no saved outputs to compare against"
    transformer = TransformerManager()
    modules: set[str] = set()
    for cell in code:
        try:
            tree = ast.parse(transformer.transform_cell(cell.source))
        except (SyntaxError, ValueError):
            return "a cell does not parse as Python 3"
        modules |= _imported_modules(tree)
    missing = sorted(module for module in modules if not installed(module))
    if missing:
        return "imports modules not installed: " + " ".join(missing)
    return None


def _imported_modules(tree: ast.AST) -> set[str]:
    """The top-level modules ``tree`` imports absolutely (``import a.b`` and ``from a import``)."""
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def select_runnable(manifest: Manifest, root: Path, installed: Any = None) -> Selection:
    """Split the fetched study into the notebooks that can be re-run here and the others."""
    selection = Selection()
    for entry in manifest.notebooks:
        path = notebook_path(entry, root)
        reason = "not fetched" if not path.is_file() else why_not_runnable(path, installed)
        if reason is None:
            selection.chosen.append(entry)
        else:
            selection.excluded[entry.repo, entry.path] = reason
    return selection


def spread(entries: list[Entry], size: int) -> list[Entry]:
    """At most ``size`` entries (0: all), in turn from each repository, not all from the first."""
    queues: dict[str, list[Entry]] = {}
    for entry in entries:
        queues.setdefault(entry.repo, []).append(entry)
    taken: list[Entry] = []
    while any(queues.values()) and (size <= 0 or len(taken) < size):
        for queue in queues.values():
            if queue and (size <= 0 or len(taken) < size):
                taken.append(queue.pop(0))
    return taken


class NotebookTimeout(Exception):
    """A notebook ran past its whole-notebook budget (each cell also has the audit's timeout)."""


def execute_sample(
    entries: list[Entry],
    root: Path,
    timeout: int,
    budget: int = NOTEBOOK_BUDGET,
    done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Re-run each notebook once in a fresh kernel with nbship's audit and keep its verdict.

    One run each (not the audit's two): the second run only asks whether outputs are stable,
    and the published figures compare one fresh run with the saved outputs. ``timeout`` bounds
    each cell, ``budget`` each notebook (a SIGALRM, so from the main thread only); ``done`` is
    called with each notebook's result as it comes, so that a long re-run shows its progress.
    A notebook stopped by its budget leaves nbclient's clean-up (its kernel's shutdown included)
    pending in the event loop: it completes when the loop next runs, at the next notebook, and
    the kernel also exits with this process. Whatever its cell does meanwhile is not recorded.
    """
    results = []
    for entry in entries:
        result = _execute_one(entry, root, timeout, budget)
        results.append(result)
        if done is not None:
            done(result)
    return results


def _finish_interrupted_runs() -> None:
    """Let a run the budget interrupted clean up now: its kernel shut down, its outcome read.

    The budget's exception leaves nbclient's task pending in the event loop of this thread;
    left there, it ran at the next notebook (or never) and its error was logged at exit as
    "Task exception was never retrieved". Cancelling it runs its clean-up at once.
    """
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _execute_one(entry: Entry, root: Path, timeout: int, budget: int) -> dict[str, Any]:
    import signal

    from nbship.notebooks.audit import FAILS, Finding, NotebookAudit, audit_notebook

    def expire(signum: int, frame: Any) -> None:
        raise NotebookTimeout(f"notebook did not finish within {budget}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(budget)
    try:
        path = notebook_path(entry, root)
        audit = audit_notebook(path, execute=True, timeout=timeout, runs=1, display=entry.path)
    except NotebookTimeout as exc:  # outside the run itself (static checks, comparison)
        audit = NotebookAudit(path=entry.path, executed=True, runs_without_error=False)
        audit.error, audit.verdict = Finding("error", f"NotebookTimeout: {exc}", "error"), FAILS
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        _finish_interrupted_runs()
    error = audit.error
    return {
        "repo": entry.repo,
        "path": entry.path,
        "executed": audit.executed,
        "runs_without_error": bool(audit.runs_without_error),
        "reproduces_outputs": bool(audit.reproduces_outputs),
        "verdict": audit.verdict,
        "failure": failure_kind(error.check, error.message) if error else None,
        "error": error.message if error else None,
        "error_cell": error.cell if error else None,
        "seconds": audit.seconds,
    }


def failure_kind(check: str, message: str) -> str:
    """What stopped a run, in a word: the exception's name, or timeout, dead kernel, ..."""
    if check != "error":
        return check
    text = message.removeprefix("fresh run stopped: ")
    name = text.split(":", 1)[0].strip()
    if name == NotebookTimeout.__name__:
        return "notebook timeout"
    return name if name.isidentifier() else "error"


def run_figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The re-run sample's figures: ran without error, reproduced, and what failed most often.

    Both shares are over every notebook of the sample, as Pimentel et al.'s are over every
    notebook they tried; *reproduced* is nbship's verdict "reproducible": the run finished and
    every cell's fresh output matches its saved one.
    """
    ran = sum(1 for result in results if result["runs_without_error"])
    reproduced = sum(1 for result in results if result["verdict"] == "reproducible")
    differs = sum(1 for result in results if result["verdict"] == "runs but differs")
    failures = Counter(result["failure"] for result in results if result["failure"])
    return {
        "sample": len(results),
        "runs_without_error": {"count": ran, "share": _share(ran, len(results))},
        "reproduced": {"count": reproduced, "share": _share(reproduced, len(results))},
        "runs_but_differs": {"count": differs, "share": _share(differs, len(results))},
        "failures": dict(failures.most_common()),
    }


def save_runs(
    root: Path,
    selection: Selection,
    results: list[dict[str, Any]],
    timeout: int,
    budget: int = NOTEBOOK_BUDGET,
    sample: int | None = None,
) -> Path:
    """Write the sample, its results and the excluded notebooks' reasons to build/study."""
    document = {
        "rule": why_not_runnable.__doc__,
        "cell_timeout_seconds": timeout,
        "notebook_budget_seconds": budget,
        "sample": len(results) if sample is None else sample,
        "done": len(results),
        "selected": len(selection.chosen),
        "excluded": dict(selection.reasons().most_common()),
        "missing_modules": dict(selection.missing_modules().most_common()),
        "figures": run_figures(results),
        "published": PUBLISHED,
        "results": results,
    }
    saved = root / RUNS
    atomic_write(saved, json.dumps(document, indent=1) + "\n")
    return saved


def render_runs(selection: Selection, results: list[dict[str, Any]]) -> str:
    """The re-run sample's figures beside the published ones, for a terminal."""
    shares = run_figures(results)
    reasons = ", ".join(f"{reason} {count}" for reason, count in selection.reasons().most_common())
    modules = ", ".join(
        f"{module} {count}" for module, count in selection.missing_modules().most_common(8)
    )
    lines = [
        f"re-runnable here: {len(selection.chosen)}; left out: {reasons}",
        f"  modules not installed (notebooks): {modules or 'none'}",
        f"re-ran {shares['sample']} notebooks in a fresh kernel:",
    ]
    for name in ("runs_without_error", "reproduced"):
        figure = shares[name]
        lines.append(
            f"  {name.replace('_', ' ')}: {figure['count']}/{shares['sample']} "
            f"({figure['share']} %; Pimentel et al.: {PUBLISHED[name]} %)"
        )
    differs = shares["runs_but_differs"]
    lines.append(f"  ran but differs: {differs['count']}/{shares['sample']} ({differs['share']} %)")
    failed = ", ".join(f"{kind} {count}" for kind, count in shares["failures"].items())
    lines.append(f"  what stopped the runs: {failed or 'nothing'}")
    return "\n".join(lines)
