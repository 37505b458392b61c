"""Billing throughput: orders posted to the gateway until they are rows in billing_db.

Two figures: end to end (post N orders with billing running; time from the first post until
all N are in the database) and backlog drain (post N with billing-app stopped, start it, time
until all N are in). The orders are posted by loadgen.py from inside the gateway's container,
as many clients at once, each on one kept-alive connection. A watcher inside the billing-db
container polls `count(*)` and prints the wall-clock time it saw each milestone; the host and
containers share one clock.

The targets are ratios: each figure against the same figure of a naive pipeline (a publisher
that waits for each confirm, a consumer that commits each message; see naive_billing.py) run on
the same RabbitMQ and PostgreSQL in the same run, alternating with nbship's measurements. The
absolute rates are kept beside the ratios; they depend on how busy the machine is.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbship.errors import NbshipError
from nbship_bench import stats
from nbship_bench.results import Metric, Result, ratio
from nbship_bench.stack import BenchStack

NAME = "billing"
TITLE = "Billing orders end to end and backlog drain"
# nbship / naive pipeline, same run (see the module docstring).
MIN_END_TO_END_RATIO = 2.0
MIN_DRAIN_RATIO = 5.0
POLL_SECONDS = 0.2
NAIVE = Path(__file__).with_name("naive_billing.py")
NAIVE_KEYS = ("publish_started", "publish_finished", "started", "first_commit", "finished", "rows")

# Polls until count(*) reaches TARGET; prints "ready" first, then "done|timeout COUNT FIRST LAST"
# where FIRST is when the count first exceeded BASE and LAST when it was last read (epoch s).
WATCHER = r"""
set -u
base=$1 target=$2 limit=$3 user=$4 poll=$5
end=$(( $(date +%s) + limit )); first=""
echo ready
while :; do
  n=$(psql -U "$user" -d billing_db -Atc 'SELECT count(*) FROM orders' 2>/dev/null)
  n=${n:--1}; now=$(date +%s.%N)
  if [ -z "$first" ] && [ "$n" -gt "$base" ]; then first=$now; fi
  if [ "$n" -ge "$target" ]; then echo "done $n $first $now"; exit 0; fi
  if [ "$(date +%s)" -ge "$end" ]; then echo "timeout $n ${first:-0} $now"; exit 1; fi
  sleep "$poll"
done
"""


@dataclass(frozen=True)
class Posted:
    """What a burst of posts did: how many the gateway accepted, and when it ran (epoch s)."""

    accepted: int
    failed: int
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def post_orders(bench: BenchStack, count: int, clients: int) -> Posted:
    """POST COUNT orders to the gateway from CLIENTS keep-alive clients at once.

    The load generator runs in the gateway's container and posts to its port there, as the
    gateway benchmark does: no host-side proxy between client and gateway.
    """
    params = {
        "mode": "orders",
        "url": "http://127.0.0.1:3000/api/billing",
        "count": count,
        "clients": clients,
    }
    data = bench.loadgen(params)
    try:
        return Posted(
            int(data["accepted"]), int(data["failed"]), float(data["started"]),
            float(data["finished"]),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError):
        raise NbshipError(f"the load generator's answer is incomplete: {data}") from None


class Watcher:
    """The count(*) poller in billing-db, started in the background until TARGET rows exist."""

    def __init__(self, bench: BenchStack, base: int, target: int, limit: int) -> None:
        user = bench.settings()["BILLING_DB_USER"]
        args = ["sh", "-c", WATCHER, "watch", str(base), str(target), str(limit), user]
        cmd = bench.exec_command("billing-db", *args, str(POLL_SECONDS))
        self._proc = subprocess.Popen(
            cmd, env=bench.environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":
            self.stop()
            raise NbshipError("the billing-db row watcher did not start")

    def result(self) -> tuple[int, float, float]:
        """(rows, epoch of the first new row, epoch when the target was reached)."""
        out, err = self._proc.communicate()
        fields = out.split()
        if len(fields) != 4:
            raise NbshipError(f"the billing-db row watcher failed: {(out + err).strip()[:200]}")
        state, rows, first, last = fields
        if state != "done":
            raise NbshipError(f"billing-db holds {rows} new-run rows, fewer than expected in time")
        return int(rows), float(first), float(last)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


def row_count(bench: BenchStack) -> int:
    """Rows in billing_db's orders table now."""
    user = bench.settings()["BILLING_DB_USER"]
    sql = "SELECT count(*) FROM orders"
    out = bench.compose(
        "exec", "-T", "billing-db", "psql", "-U", user, "-d", "billing_db", "-Atc", sql
    )
    return int(out.stdout.strip())


def queue_depth(bench: BenchStack) -> int | None:
    """Messages ready in billing_queue, or None when rabbitmqctl cannot say."""
    out = bench.compose(
        "exec",
        "-T",
        "rabbit-queue",
        "rabbitmqctl",
        "list_queues",
        "--quiet",
        "--no-table-headers",
        "name",
        "messages_ready",
        check=False,
    )
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "billing_queue" and parts[1].isdigit():
            return int(parts[1])
    return None


def _limit(orders: int) -> int:
    # Generous: fail only when billing is clearly stuck (10 orders/s), never on a slow machine.
    return max(120, orders // 10)


def end_to_end(bench: BenchStack, orders: int, clients: int) -> dict[str, float | int]:
    """Post ORDERS with billing running; seconds from the first post until all are rows."""
    base = row_count(bench)
    watcher = Watcher(bench, base, base + orders, _limit(orders))
    try:
        posted = post_orders(bench, orders, clients)
        if posted.accepted != orders:
            # Fewer rows will ever arrive than the watcher waits for: watch for those instead.
            watcher.stop()
            watcher = Watcher(bench, base, base + posted.accepted, _limit(orders))
        _, _, done = watcher.result()
    finally:
        watcher.stop()
    total = done - posted.started
    return {
        "orders": orders,
        "accepted": posted.accepted,
        "failed": posted.failed,
        "post_seconds": round(posted.seconds, 3),
        "post_rate": stats.rate(posted.accepted, posted.seconds),
        "seconds": round(total, 3),
        "rate": stats.rate(posted.accepted, total),
        "lag_after_last_post_s": round(max(0.0, done - posted.finished), 3),
    }


def drain(bench: BenchStack, orders: int, clients: int) -> dict[str, float | int | None]:
    """Queue ORDERS with billing-app stopped, start it, time until all are rows."""
    base = row_count(bench)
    bench.compose("stop", "billing-app")
    try:
        posted = post_orders(bench, orders, clients)
        backlog = queue_depth(bench)
        watcher = Watcher(bench, base, base + posted.accepted, _limit(orders))
        try:
            started = time.time()
            bench.compose("start", "billing-app")
            _, first, done = watcher.result()
        finally:
            watcher.stop()
    finally:
        bench.compose("start", "billing-app", check=False)
    return {
        "orders": orders,
        "accepted": posted.accepted,
        "failed": posted.failed,
        "queued_before_start": backlog,
        "post_rate": stats.rate(posted.accepted, posted.seconds),
        "startup_seconds": round(first - started, 3),
        "seconds": round(done - first, 3),
        "rate": stats.rate(posted.accepted, done - first),
        "rate_with_startup": stats.rate(posted.accepted, done - started),
    }


def bottleneck(e2e: dict[str, float | int]) -> str:
    """Which side limited the end-to-end rate: the gateway taking orders or billing storing them."""
    lag, total = float(e2e["lag_after_last_post_s"]), float(e2e["seconds"])
    if lag > 0.1 * total:
        return (
            f"billing-app fell behind while orders arrived: the last row landed {lag:.1f}s after "
            f"the last post (gateway took {e2e['post_rate']}/s)"
        )
    return (
        f"end to end is bounded by how fast the gateway takes orders ({e2e['post_rate']}/s; "
        "each POST waits for the broker's publisher confirm)"
    )


def startup_note(backlog: dict[str, float | int | None]) -> str:
    return (
        f"drain rate counts from billing-app's first row; it needed "
        f"{backlog['startup_seconds']}s from `compose start` to that row "
        f"({backlog['rate_with_startup']} orders/s including it)"
    )


def naive(bench: BenchStack, mode: str, orders: int) -> dict[str, float | int]:
    """The naive pipeline's figures for MODE ("end_to_end" or "drain") over ORDERS messages.

    naive_billing.py runs in billing-app's container, as billing does, on its broker and
    database; billing-app keeps running but never sees the baseline's own queue.
    """
    params = json.dumps({"mode": mode, "count": orders})
    out = bench.compose(
        "exec", "-T", "billing-app", "python", "-", params,
        input=NAIVE.read_text(encoding="utf-8"),
    )  # fmt: skip
    return naive_figures(orders, _json_object(out.stdout))


def _json_object(text: str) -> dict[str, Any]:
    lines = text.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise NbshipError(f"the naive billing pipeline printed no JSON object: {text[:200]!r}")
    return answer


def naive_figures(orders: int, answer: dict[str, Any]) -> dict[str, float | int]:
    """Rates from naive_billing.py's timestamps; every order must have become a row."""
    try:
        stamps = {key: float(answer[key]) for key in NAIVE_KEYS}
    except (KeyError, TypeError, ValueError):
        raise NbshipError(f"the naive billing pipeline's answer is incomplete: {answer}") from None
    if stamps["rows"] != orders:
        raise NbshipError(f"the naive billing pipeline stored {stamps['rows']:.0f} of {orders}")
    return {
        "orders": orders,
        "publish_rate": stats.rate(orders, stamps["publish_finished"] - stamps["publish_started"]),
        "seconds": round(stamps["finished"] - stamps["started"], 3),
        "rate": stats.rate(orders, stamps["finished"] - stamps["started"]),
        "first_to_last_seconds": round(stamps["finished"] - stamps["first_commit"], 3),
        "rate_from_first_commit": stats.rate(orders, stamps["finished"] - stamps["first_commit"]),
    }


def metrics(
    e2e: dict[str, Any], backlog: dict[str, Any], naive_e2e: dict[str, Any],
    naive_drain: dict[str, Any],
) -> list[Metric]:  # fmt: skip
    """The ratios to the naive pipeline (judged), then the absolute figures beside them.

    Both drain rates count from the first row stored, so neither includes a start-up.
    """
    return [
        ratio("end to end / naive pipeline", float(e2e["rate"]), float(naive_e2e["rate"]),
              "orders/s", MIN_END_TO_END_RATIO),
        ratio("backlog drain / naive pipeline", float(backlog["rate"] or 0),
              float(naive_drain["rate_from_first_commit"]), "orders/s", MIN_DRAIN_RATIO),
        Metric("end-to-end orders/s", float(e2e["rate"]), "orders/s"),
        Metric("backlog drained orders/s", float(backlog["rate"] or 0), "orders/s"),
        Metric("naive end-to-end orders/s", float(naive_e2e["rate"]), "orders/s"),
        Metric("naive drained orders/s", float(naive_drain["rate_from_first_commit"]), "orders/s"),
        Metric("gateway accepts (POST /api/billing)", float(e2e["post_rate"]), "orders/s"),
        Metric("lag after the last post", float(e2e["lag_after_last_post_s"]), "s"),
    ]  # fmt: skip


def run(bench: BenchStack, orders: int = 10_000, clients: int = 16) -> Result:
    """nbship and the naive pipeline on one stack, alternating: end to end, then drain."""
    print(f"nbship: billing end to end: posting {orders} orders from {clients} clients", flush=True)
    e2e = end_to_end(bench, orders, clients)
    print(f"  {e2e['rate']} orders/s end to end ({e2e['post_rate']}/s posted)", flush=True)
    print(f"nbship: naive pipeline end to end: {orders} orders, one at a time", flush=True)
    naive_e2e = naive(bench, "end_to_end", orders)
    print(f"  {naive_e2e['rate']} orders/s end to end", flush=True)
    print(f"nbship: billing backlog: {orders} orders queued with billing-app stopped", flush=True)
    backlog = drain(bench, orders, clients)
    print(f"  drained at {backlog['rate']} orders/s", flush=True)
    print(f"nbship: naive pipeline backlog: {orders} orders queued, then consumed", flush=True)
    naive_drain = naive(bench, "drain", orders)
    print(f"  drained at {naive_drain['rate_from_first_commit']} orders/s", flush=True)
    notes = [bottleneck(e2e), startup_note(backlog), NAIVE_NOTE]
    if e2e["failed"] or backlog["failed"]:
        notes.append(f"rejected posts: {e2e['failed']} end to end, {backlog['failed']} backlog")
    return Result(
        name=NAME,
        title=TITLE,
        parameters={
            "orders": orders,
            "clients": clients,
            "stack": bench.stack.project,
            "images": bench.images,
            "poll_seconds": POLL_SECONDS,
        },
        metrics=metrics(e2e, backlog, naive_e2e, naive_drain),
        raw={
            "end_to_end": e2e,
            "backlog": backlog,
            "naive_end_to_end": naive_e2e,
            "naive_drain": naive_drain,
        },
        notes=notes,
    )


NAIVE_NOTE = (
    "naive pipeline: one publisher waiting for each confirm, one consumer (prefetch 1) "
    "committing and acking each message, on the same broker and database, in billing-app's "
    "container (no HTTP hop: it publishes directly)"
)
