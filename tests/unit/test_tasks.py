"""The Invoke front door: every task documented, and every default visible to every task."""

from __future__ import annotations

import importlib.util

from invoke.collection import Collection

from nbship.paths import ROOT


def load_ns() -> Collection:
    spec = importlib.util.spec_from_file_location("nbship_tasks_under_test", ROOT / "tasks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


def test_root_configuration_holds_every_subcollection_default() -> None:
    """Root tasks such as demo call sub-collection tasks, which read their own defaults."""
    ns = load_ns()
    root = ns.configuration()
    for name, sub in ns.collections.items():
        for key, value in sub.configuration().items():
            assert root.get(key) == value, f"{name}: default {key!r} missing at the root"


def test_every_task_and_flag_has_help() -> None:
    ns = load_ns()
    for name in ns.task_names:
        task = ns[name]
        assert (task.__doc__ or "").strip(), f"{name} has no docstring"
        for argument in task.get_arguments():
            assert argument.help, f"{name} --{argument.name} has no help"
