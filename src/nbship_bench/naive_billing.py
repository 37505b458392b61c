"""The naive billing pipeline the billing benchmark measures nbship against, in the same run.

Sent to billing-app's Python as `python - PARAMS` (as loadgen.py is to the gateway's): it uses
what that image has (pika, SQLAlchemy, and billing's own settings, so it reaches the stack's
RabbitMQ and PostgreSQL however their credentials are passed) and imports nothing from nbship.

The pipeline is the textbook one, both halves real:
- a publisher on one connection that publishes each order as a persistent message and waits for
  the broker's confirm before the next (pika's BlockingChannel with confirms on);
- a consumer with prefetch 1 that inserts each message in its own transaction, commits, then
  acknowledges it.
It uses a queue and a table of its own (`bench_naive_*`, created, emptied and dropped here), so
billing-app, which stays running, never sees its messages and the orders table is untouched.

Two modes, as PARAMS["mode"], both printing epoch seconds (the host shares the clock):
- "end_to_end": publisher and consumer run at once, in two processes; from the first publish
  to the last commit.
- "drain": all messages are published first, then the consumer starts; from its first commit
  to its last (the nbship drain counts from the first row too).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import pika
from sqlalchemy import Engine, create_engine, text

QUEUE = "bench_naive_queue"
TABLE = "bench_naive_orders"
# A consumer that waits this long for a message has lost some: fail rather than hang.
IDLE_SECONDS = 60
# The orders table's shape and indexes (primary key, unique message id), so a commit costs
# what one of billing's does.
CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    message_id uuid NOT NULL UNIQUE,
    user_id integer NOT NULL,
    number_of_items integer NOT NULL,
    total_amount numeric(12, 2) NOT NULL
)
"""
INSERT = (
    f"INSERT INTO {TABLE} (message_id, user_id, number_of_items, total_amount) "
    "VALUES (:message_id, :user_id, :number_of_items, :total_amount)"
)


def message(number: int) -> bytes:
    """The NUMBERth order as the gateway would queue it: a message id and the order's fields."""
    return json.dumps(
        {
            "message_id": f"00000000-0000-4000-8000-{number:012d}",
            "user_id": 1 + number % 1000,
            "number_of_items": 1 + number % 9,
            "total_amount": f"{1 + number % 50_000 / 100:.2f}",
        }
    ).encode()


def publish(url: str, count: int) -> tuple[float, float]:
    """Publish COUNT messages, each confirmed before the next; (started, finished) epoch s."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent
        )
        started = time.time()
        for number in range(count):
            # With confirms on, basic_publish returns once the broker has confirmed it.
            channel.basic_publish("", QUEUE, message(number), properties, mandatory=True)
        return started, time.time()
    finally:
        connection.close()


def consume(url: str, engine: Engine, count: int) -> tuple[float, float, float]:
    """Store COUNT messages one transaction each; (started, first commit, last commit) epoch s."""
    insert = text(INSERT)
    stamps: list[float] = []
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1)
        started = time.time()
        for method, _properties, body in channel.consume(QUEUE, inactivity_timeout=IDLE_SECONDS):
            if method is None:
                raise RuntimeError(f"no message for {IDLE_SECONDS}s after {len(stamps)} stored")
            with engine.begin() as db:
                db.execute(insert, json.loads(body))
            channel.basic_ack(method.delivery_tag)
            stamps.append(time.time())
            if len(stamps) == count:
                break
        channel.cancel()
        return started, stamps[0], stamps[-1]
    finally:
        connection.close()


def setup(url: str, engine: Engine) -> None:
    """An empty queue and table of the baseline's own."""
    with engine.begin() as db:
        db.execute(text(CREATE))
        db.execute(text(f"TRUNCATE {TABLE}"))
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.queue_declare(QUEUE, durable=True)
        channel.queue_purge(QUEUE)
    finally:
        connection.close()


def teardown(url: str, engine: Engine) -> int:
    """Drop the queue and the table; the rows the table held."""
    with engine.begin() as db:
        rows = int(db.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar_one())
        db.execute(text(f"DROP TABLE {TABLE}"))
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_delete(QUEUE)
    finally:
        connection.close()
    return rows


def measure(mode: str, count: int, database_url: str, rabbitmq_url: str) -> dict[str, Any]:
    """Run the naive pipeline once in MODE over COUNT messages; its timings and row count."""
    if mode not in {"end_to_end", "drain"}:
        raise ValueError(f"unknown mode {mode!r}")
    engine = create_engine(database_url, pool_size=1)
    try:
        setup(rabbitmq_url, engine)
        try:
            figures = _timed(mode, count, engine, rabbitmq_url, database_url)
        finally:
            rows = teardown(rabbitmq_url, engine)
    finally:
        engine.dispose()
    return {**figures, "rows": rows}


def _timed(mode: str, count: int, engine: Engine, url: str, database_url: str) -> dict[str, float]:
    if mode == "drain":
        published = publish(url, count)
        started, first, last = consume(url, engine, count)
    else:
        # Two processes, as a publisher and a consumer would be: neither waits for the other's
        # turn at one interpreter lock.
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        worker = context.Process(target=_consumer_process, args=(sender, url, database_url, count))
        worker.start()
        sender.close()
        published = publish(url, count)
        answer = receiver.recv() if receiver.poll(IDLE_SECONDS + count) else "no answer"
        worker.join()
        if isinstance(answer, str):
            raise RuntimeError(f"the naive consumer failed: {answer}")
        # End to end counts from the first publish, as nbship's counts from the first post.
        started, (_, first, last) = published[0], answer
    return {
        "publish_started": published[0],
        "publish_finished": published[1],
        "started": started,
        "first_commit": first,
        "finished": last,
    }


def _consumer_process(sender: Connection, url: str, database_url: str, count: int) -> None:
    """The end-to-end consumer, in a child process with its own engine; sends its timings."""
    engine = create_engine(database_url, pool_size=1)
    try:
        sender.send(consume(url, engine, count))
    except Exception as exc:  # reported by the parent, which owns the exit status
        sender.send(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
        sender.close()


def main() -> None:
    params = json.loads(sys.argv[1])
    # billing's own settings: the same broker and database, however the stack passes secrets.
    from billing.settings import BillingSettings

    settings = BillingSettings.from_env()
    figures = measure(
        params["mode"], int(params["count"]), settings.database_url, settings.rabbitmq_url
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
