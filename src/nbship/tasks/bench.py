"""bench.*: measure nbship against its targets; results go to bench/results/.

The stack benchmarks (gateway, billing) deploy the VERSION file's version, already built and
pushed, as their own compose project on a free port and remove it afterwards; --project points
them at a stack deployed earlier instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invoke.collection import Collection
from invoke.context import Context

from nbship import docker
from nbship import version as versions
from nbship.bench import audit as audit_bench
from nbship.bench import billing as billing_bench
from nbship.bench import build, results
from nbship.bench import gateway as gateway_bench
from nbship.bench import rebuild as rebuild_bench
from nbship.bench import size as size_bench
from nbship.bench import stack as bench_stack
from nbship.errors import NbshipError
from nbship.paths import ROOT
from nbship.tasks import _common as common
from nbship.tasks._common import task

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
    "orders": "orders to post for each of the two measurements",
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
def _stack(c: Context, project: str | None, port: int, keep: bool) -> Iterator:
    if project:
        yield bench_stack.attach(bench_stack.with_overrides(common.stack(c), project, port or None))
    else:
        with bench_stack.private_stack(common.conf(c).registry, versions.current(), keep) as s:
            yield s


def _record(result: results.Result) -> results.Result:
    """Stamp RESULT with where it was measured, write it and the README, print its figures."""
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
    _positive(connections=connections, rounds=rounds, seconds=seconds)
    with _stack(c, project, port, keep) as s:
        _record(gateway_bench.run(s, connections, rounds, seconds))


@task(help=BILLING_HELP | STACK_HELP)
def billing(
    c: Context,
    orders: int = 10_000,
    clients: int = 16,
    project: str | None = None,
    port: int = 0,
    keep: bool = False,
) -> None:
    """Billing: orders/s from POST /api/billing to billing_db rows, live and from a backlog."""
    _positive(orders=orders, clients=clients)
    if project:
        print(f"nbship: note: this stops and restarts billing-app of {project!r}")
    with _stack(c, project, port, keep) as s:
        _record(billing_bench.run(s, orders, clients))


@task(help=KEEP_IMAGES_HELP)
def size(c: Context, keep_images: bool = False) -> None:
    """Image size: each service image vs a naive single-stage one, both built now."""
    try:
        _record(size_bench.run(versions.current(), common.conf(c).base))
    finally:
        if not keep_images:
            build.cleanup()


@task(help=REBUILD_HELP | KEEP_IMAGES_HELP)
def rebuild(
    c: Context, service: str = "inventory", repeats: int = 3, keep_images: bool = False
) -> None:
    """Rebuild time after a one-line code change, cache warm: nbship vs naive Dockerfile."""
    _positive(repeats=repeats)
    try:
        _record(rebuild_bench.run(service, repeats, common.conf(c).base))
    finally:
        if not keep_images:
            build.cleanup()


@task(help={"notebooks": "how many notebooks to audit", "repeats": "timed runs (the best counts)"})
def audit(c: Context, notebooks: int = 200, repeats: int = 5) -> None:
    """Static audit speed: 200 notebooks on one core (target: under 2 seconds)."""
    _positive(notebooks=notebooks, repeats=repeats)
    _record(audit_bench.run(notebooks, repeats))


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
    """Run every benchmark (audit, gateway, billing, size, rebuild) and tabulate the results."""
    _positive(
        connections=connections,
        rounds=rounds,
        seconds=seconds,
        orders=orders,
        clients=clients,
        repeats=repeats,
    )
    done = [_record(audit_bench.run())]
    with _stack(c, project, port, keep) as s:
        done.append(_record(gateway_bench.run(s, connections, rounds, seconds)))
        done.append(_record(billing_bench.run(s, orders, clients)))
    try:
        # The naive images of the size benchmark warm the rebuild benchmark's cache.
        done.append(_record(size_bench.run(versions.current(), common.conf(c).base)))
        done.append(_record(rebuild_bench.run(service, repeats, common.conf(c).base)))
    finally:
        if not keep_images:
            build.cleanup()
    results.write_readme()
    _summary(done)


@task
def report(c: Context) -> None:
    """Rewrite bench/results/README.md from the result files and print the table."""
    results.write_readme()
    _summary(results.load_all())


ns = Collection("bench", run_all, audit, gateway, billing, size, rebuild, report)
