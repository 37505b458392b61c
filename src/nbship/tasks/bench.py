"""bench.*: measure nbship against its targets; results go to bench/results/.

The stack benchmarks (gateway, billing) deploy the VERSION file's version, already built and
pushed, as their own compose project on a free port and remove it afterwards; --project points
them at a stack deployed earlier instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec

from invoke.collection import Collection
from invoke.context import Context

from nbship import version as versions
from nbship.errors import NbshipError
from nbship.paths import ROOT
from nbship.tasks import _common as common
from nbship.tasks._common import task

# Each benchmark module is imported by the task that runs it: every command, even
# `invoke --list`, imports this file, and the stack benchmarks load requests (issue 13).
if TYPE_CHECKING:
    from nbship_bench import results
    from nbship_bench.stack import BenchStack

P = ParamSpec("P")

STACK_HELP = {
    "project": "measure this already deployed compose project instead of starting a private one",
    "port": "gateway port of --project's stack (default: the configured gateway_port)",
    "keep": "leave the private stack running afterwards (project nbship-bench)",
}
GATEWAY_HELP = {
    "connections": "clients at once for the loaded measurement (the unloaded one uses 1)",
    "rounds": "measured rounds per path (gateway and direct alternate)",
    "seconds": "length of each round, in seconds",
}
BILLING_HELP = {
    "orders": "orders per measurement (end to end and drain, nbship and the naive pipeline)",
    "clients": "concurrent HTTP clients posting orders",
}
REBUILD_HELP = {
    "service": "service to rebuild: api-gateway, inventory or billing",
    "repeats": "timed rebuilds of each Dockerfile (the median counts)",
}
KEEP_IMAGES_HELP = {
    "keep_images": "keep the images built for the benchmark (tagged nbship-bench/*)"
}


@contextmanager
def _stack(c: Context, project: str | None, port: int, keep: bool) -> Iterator[BenchStack]:
    from nbship_bench import stack as bench_stack

    if project:
        yield bench_stack.attach(bench_stack.with_overrides(common.stack(c), project, port or None))
    else:
        cfg = common.conf(c)
        with bench_stack.private_stack(
            cfg.registry, versions.current(), keep, cfg.wait_timeout
        ) as s:
            yield s


def _record(run: Callable[P, results.Result], *args: P.args, **kwargs: P.kwargs) -> results.Result:
    """Run one benchmark; stamp its result with where it ran and how busy the machine was.

    Then write it and the README and print its figures. The load probe brackets the run alone,
    not the stack's deployment around it.
    """
    from nbship import docker
    from nbship_bench import results

    probe = results.LoadProbe()
    result = run(*args, **kwargs)
    result.load = probe.finish()
    result.git = results.git_info()
    result.machine = results.machine_info(docker.ensure_daemon())
    path = results.write(result)
    results.write_readme()
    print(f"\n{result.title} ({path.relative_to(ROOT)})")
    print(results.terminal_table([result]))
    for note in result.notes:
        print(f"  note: {note}")
    return result


def _summary(done: list[results.Result]) -> None:
    from nbship_bench import results

    print("\nnbship: benchmark summary (bench/results/README.md)")
    print(results.terminal_table(done))
    missed = [f"{r.name}: {m.name}" for r in done for m in r.missed]
    if missed:
        print(f"nbship: {len(missed)} target(s) missed: " + "; ".join(missed))
    else:
        print("nbship: every target met")


def _positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise NbshipError(f"--{name.replace('_', '-')} must be positive (got {value})")


@task(help=GATEWAY_HELP | STACK_HELP)
def gateway(
    c: Context,
    connections: int = 8,
    rounds: int = 10,
    seconds: int = 3,
    project: str | None = None,
    port: int = 0,
    keep: bool = False,
) -> None:
    """Gateway overhead: GET /api/movies/<id> via the gateway vs inventory directly."""
    from nbship_bench import gateway as gateway_bench

    _positive(connections=connections, rounds=rounds, seconds=seconds)
    with _stack(c, project, port, keep) as s:
        _record(gateway_bench.run, s, connections, rounds, seconds)


@task(help=BILLING_HELP | STACK_HELP)
def billing(
    c: Context,
    orders: int = 10_000,
    clients: int = 16,
    project: str | None = None,
    port: int = 0,
    keep: bool = False,
) -> None:
    """Billing orders/s, live and from a backlog, each against a naive pipeline in the same run."""
    from nbship_bench import billing as billing_bench

    _positive(orders=orders, clients=clients)
    if project:
        print(f"nbship: note: this stops and restarts billing-app of {project!r}")
    with _stack(c, project, port, keep) as s:
        _record(billing_bench.run, s, orders, clients)


@task(help=KEEP_IMAGES_HELP)
def size(c: Context, keep_images: bool = False) -> None:
    """Image size: each service image vs a naive single-stage one, both built now."""
    from nbship_bench import build
    from nbship_bench import size as size_bench

    try:
        _record(size_bench.run, versions.current(), common.conf(c).base)
    finally:
        if not keep_images:
            build.cleanup()


@task(help=REBUILD_HELP | KEEP_IMAGES_HELP)
def rebuild(
    c: Context, service: str = "inventory", repeats: int = 3, keep_images: bool = False
) -> None:
    """Rebuild time after a one-line code change, cache warm: nbship vs naive Dockerfile."""
    from nbship_bench import build
    from nbship_bench import rebuild as rebuild_bench

    _positive(repeats=repeats)
    try:
        _record(rebuild_bench.run, service, repeats, common.conf(c).base)
    finally:
        if not keep_images:
            build.cleanup()


@task(help=KEEP_IMAGES_HELP)
def release(c: Context, keep_images: bool = False) -> None:
    """Deploy, rollback, roll-forward, rebuild path and edit loop under steady load."""
    from nbship_bench import release as release_bench

    try:
        _record(release_bench.run, versions.current())
    finally:
        if not keep_images:
            release_bench.cleanup()


@task(help=KEEP_IMAGES_HELP)
def swarm(c: Context, keep_images: bool = False) -> None:
    """Rollback on a three-node swarm (target 10 s) beside compose, a node drained and lost.

    Needs root, iproute2 and socat: the swarm is engines in network namespaces of this machine
    (`invoke cluster.up`'s kind, under the name nbbench), removed afterwards.
    """
    from nbship_bench import swarm as swarm_bench

    try:
        _record(swarm_bench.run, versions.current())
    finally:
        if not keep_images:
            swarm_bench.cleanup()


@task(
    help={
        "orders": "orders to fill billing-db with",
        "repeats": "snapshots and restores timed (the median counts)",
    }
    | STACK_HELP
)
def snapshot(
    c: Context,
    orders: int = 100_000,
    repeats: int = 3,
    project: str | None = None,
    port: int = 0,
    keep: bool = False,
) -> None:
    """Snapshot and restore time of billing-db holding 100,000 orders; what it adds to a deploy."""
    from nbship_bench import snapshot as snapshot_bench

    _positive(orders=orders, repeats=repeats)
    with _stack(c, project, port, keep) as s:
        _record(snapshot_bench.run, s, orders, repeats)


@task(help={"notebooks": "how many notebooks to audit", "repeats": "timed runs (the best counts)"})
def audit(c: Context, notebooks: int = 200, repeats: int = 5) -> None:
    """Static audit speed on one core: 200 generated (<= 2 s) and 200 real notebooks (<= 1 s)."""
    from nbship_bench import audit as audit_bench

    _positive(notebooks=notebooks, repeats=repeats)
    _record(audit_bench.run, notebooks, repeats)


@task(help={"repeats": "runs of each command (the median counts)"})
def startup(c: Context, repeats: int = 10) -> None:
    """Start-up: `invoke --list` and `invoke nb.audit --help` (target: 0.3 s each)."""
    from nbship_bench import startup as startup_bench

    _positive(repeats=repeats)
    _record(startup_bench.run, repeats)


@task(
    name="all",
    default=True,
    # Too many flags for distinct one-letter forms (Invoke would hand out "-" itself).
    auto_shortflags=False,
    help=GATEWAY_HELP | BILLING_HELP | REBUILD_HELP | STACK_HELP | KEEP_IMAGES_HELP,
)
def run_all(
    c: Context,
    connections: int = 8,
    rounds: int = 10,
    seconds: int = 3,
    orders: int = 10_000,
    clients: int = 16,
    service: str = "inventory",
    repeats: int = 3,
    project: str | None = None,
    port: int = 0,
    keep: bool = False,
    keep_images: bool = False,
) -> None:
    """Run every benchmark (startup, audit, gateway, billing, snapshot, size, rebuild); tabulate
    them (bench.release runs on its own: it builds and deploys releases of its own)."""
    from nbship_bench import audit as audit_bench
    from nbship_bench import billing as billing_bench
    from nbship_bench import build, results
    from nbship_bench import gateway as gateway_bench
    from nbship_bench import rebuild as rebuild_bench
    from nbship_bench import size as size_bench
    from nbship_bench import snapshot as snapshot_bench
    from nbship_bench import startup as startup_bench

    _positive(
        connections=connections,
        rounds=rounds,
        seconds=seconds,
        orders=orders,
        clients=clients,
        repeats=repeats,
    )
    done = [_record(startup_bench.run), _record(audit_bench.run)]
    with _stack(c, project, port, keep) as s:
        done.append(_record(gateway_bench.run, s, connections, rounds, seconds))
        done.append(_record(billing_bench.run, s, orders, clients))
        done.append(_record(snapshot_bench.run, s))
    try:
        # The naive images of the size benchmark warm the rebuild benchmark's cache.
        done.append(_record(size_bench.run, versions.current(), common.conf(c).base))
        done.append(_record(rebuild_bench.run, service, repeats, common.conf(c).base))
    finally:
        if not keep_images:
            build.cleanup()
    results.write_readme()
    _summary(done)
    print("nbship: `invoke bench.report` redraws docs/benchmarks.md and the README table")


@task
def report(c: Context) -> None:
    """Render docs/benchmarks.md (tables, plots), the README table and bench/results/README.md."""
    from nbship_bench import report as bench_report
    from nbship_bench import results

    results.write_readme()
    for path in bench_report.render():
        print(f"nbship: wrote {path.relative_to(ROOT)}")
    _summary(results.load_all())


ns = Collection(
    "bench",
    run_all,
    startup,
    audit,
    gateway,
    billing,
    snapshot,
    size,
    rebuild,
    release,
    swarm,
    report,
)
