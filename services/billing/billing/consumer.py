"""The billing queue consumer: one lifecycle class, run on a background thread of the worker.

connect (database first, then broker) -> declare the durable queue -> set prefetch -> consume.
Messages are stored in batches: whatever has arrived since the last commit, up to BATCH_SIZE,
goes into one INSERT ... ON CONFLICT DO NOTHING transaction, and only after its commit are they
acknowledged, with one multiple-ack. A crash between the two redelivers messages that are then
ignored as duplicates. When idle a batch is a single message, so nothing waits to fill one.
Messages that can never be stored are rejected without requeue and logged. Losing the broker or
the database closes everything and reconnects after a capped exponential backoff. On stop
(SIGTERM, when a deploy replaces the container) it cancels its subscription, stores and
acknowledges what has already arrived, and only then disconnects.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

import pika
from flask import Flask
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError
from pika.spec import Basic, BasicProperties
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from billing.db import store_orders
from billing.settings import BillingSettings
from nbship_common.app import extension_of
from nbship_common.broker import connection_parameters, declare_queue
from nbship_common.database import ping
from nbship_common.errors import describe
from nbship_common.health import add_readiness_check
from nbship_common.orders import Order, OrderError, order_from_message

log = logging.getLogger(__name__)

# Rows per transaction at most: large enough that a commit costs little per order, small enough
# that a batch stays a few milliseconds of work.
BATCH_SIZE = 200
# Two batches in flight: the broker streams the next one while this one commits.
PREFETCH = 2 * BATCH_SIZE
INITIAL_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# How often the consume loop looks up from the queue to notice a stop request.
POLL_SECONDS = 1.0
# Under gunicorn's graceful_timeout, so the worker exits on its own terms.
STOP_TIMEOUT_SECONDS = 5.0

_EXTENSION = "billing_consumer"


class InvalidMessage(ValueError):
    """A message that can never become an order; `details` says why."""

    def __init__(self, details: dict[str, str]) -> None:
        super().__init__(f"invalid message: {details}")
        self.details = details


class ConsumerNotReady(RuntimeError):
    """The consumer is not connected to the broker and consuming."""


def parse_message(body: bytes) -> tuple[uuid.UUID, Order]:
    """The message id and order in `body`; raises InvalidMessage for anything else."""
    try:
        message_id, order = order_from_message(body)
    except OrderError as exc:
        raise InvalidMessage(exc.details) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidMessage({"message": describe(exc)}) from None
    try:
        # The gateway always sends a UUID; the column is a native uuid.
        return uuid.UUID(message_id), order
    except ValueError:
        raise InvalidMessage({"message_id": "must be a UUID"}) from None


@dataclass(frozen=True)
class Delivery:
    """One message as the broker delivered it."""

    tag: int
    properties: BasicProperties
    body: bytes


class BillingConsumer:
    """Consumes the billing queue into the orders table until stopped."""

    def __init__(
        self,
        *,
        rabbitmq_url: str,
        queue: str,
        engine: Engine,
        prefetch: int = PREFETCH,
        batch_size: int = BATCH_SIZE,
        max_backoff: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        self._parameters = connection_parameters(rabbitmq_url, connection_name="billing-consumer")
        self._queue = queue
        self._engine = engine
        self._prefetch = prefetch
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._backoff = INITIAL_BACKOFF_SECONDS
        self._stopping = threading.Event()
        self._consuming = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = "not started"

    @property
    def consuming(self) -> bool:
        """Whether the consumer is connected and receiving messages."""
        return self._consuming.is_set()

    def start(self) -> None:
        """Run the consumer on a daemon thread (a stuck stop must not keep the worker alive)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._last_error = "starting"
        self._thread = threading.Thread(target=self.run, name="billing-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Ask the consumer to store (and acknowledge) what has arrived, then disconnect."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("consumer did not stop in time", extra={"timeout_s": timeout})
        self._last_error = "stopped"

    def check_ready(self) -> None:
        """Readiness check: raise unless consuming."""
        if not self.consuming:
            raise ConsumerNotReady(self._last_error)

    def run(self) -> None:
        """Consume until stopped, reconnecting with capped exponential backoff."""
        while not self._stopping.is_set():
            try:
                self._consume()
            except (AMQPError, SQLAlchemyError, OSError) as exc:
                self._last_error = describe(exc)[:200]
                log.warning(
                    "consumer lost the broker or the database",
                    extra={"reason": self._last_error, "retry_in_s": self._backoff},
                )
            except Exception as exc:
                # A bug must not silently end consumption for the life of the worker.
                self._last_error = describe(exc)[:200]
                log.exception("consumer failed", extra={"retry_in_s": self._backoff})
            if self._stopping.wait(self._backoff):
                break
            self._backoff = min(self._backoff * 2, self._max_backoff)
        log.info("consumer stopped")

    def _consume(self) -> None:
        # The database first: taking messages we cannot store would only bounce them back.
        ping(self._engine)
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
            declare_queue(channel, self._queue)
            channel.basic_qos(prefetch_count=self._prefetch)
            arrived: list[Delivery] = []

            def on_message(
                _channel: BlockingChannel,
                method: Basic.Deliver,
                properties: BasicProperties,
                body: bytes,
            ) -> None:
                arrived.append(Delivery(method.delivery_tag, properties, body))

            consumer_tag = channel.basic_consume(self._queue, on_message_callback=on_message)
            self._consuming.set()
            self._backoff = INITIAL_BACKOFF_SECONDS
            log.info(
                "consuming",
                extra={"queue": self._queue, "prefetch": self._prefetch, "batch": self._batch_size},
            )
            while not self._stopping.is_set():
                # Returns as soon as messages have arrived (all that are buffered are handed to
                # on_message), or after POLL_SECONDS to look at the stop flag.
                connection.process_data_events(time_limit=POLL_SECONDS)
                self._store_arrived(channel, arrived)
            # Stopping (SIGTERM: a deploy replaces this container): no new deliveries, then the
            # ones already here are stored and acknowledged rather than handed back, so the
            # container that takes over does not receive them a second time. Deliveries pika
            # still held undispatched are returned to the queue by the cancel.
            channel.basic_cancel(consumer_tag)
            self._store_arrived(channel, arrived)
        finally:
            self._consuming.clear()
            if connection.is_open:
                try:
                    connection.close()
                except AMQPError:
                    log.debug("closing the broker connection failed", exc_info=True)

    def _store_arrived(self, channel: BlockingChannel, arrived: list[Delivery]) -> None:
        """Store what has arrived, BATCH_SIZE at a time, emptying ARRIVED."""
        while arrived:
            batch, arrived[:] = arrived[: self._batch_size], arrived[self._batch_size :]
            self._store(channel, batch)

    def _store(self, channel: BlockingChannel, batch: list[Delivery]) -> None:
        """Store a batch in one transaction, then acknowledge it with one multiple-ack."""
        orders: list[tuple[Delivery, uuid.UUID, Order]] = []
        for delivery in batch:
            try:
                message_id, order = parse_message(delivery.body)
            except InvalidMessage as exc:
                self._reject(channel, delivery, exc.details)
                continue
            orders.append((delivery, message_id, order))
        try:
            inserted = store_orders(self._engine, [(m, o) for _, m, o in orders])
        except (DataError, IntegrityError):
            # One row the database refuses (a value beyond its column) fails the whole batch:
            # store them one by one, so that only that message is rejected.
            inserted = set()
            kept = []
            for delivery, message_id, order in orders:
                try:
                    inserted |= store_orders(self._engine, [(message_id, order)])
                except (DataError, IntegrityError) as exc:
                    self._reject(channel, delivery, describe(exc)[:500])
                    continue
                kept.append((delivery, message_id, order))
            orders = kept
        # Any other database error propagates: the batch stays unacknowledged and the broker
        # redelivers it after the reconnect.
        if not orders:
            return
        channel.basic_ack(max(delivery.tag for delivery, _, _ in orders), multiple=True)
        for delivery, message_id, order in orders:
            log.debug(
                "order stored" if message_id in inserted else "duplicate order ignored",
                extra={
                    "request_id": delivery.properties.correlation_id,
                    "message_id": str(message_id),
                    "user_id": order.user_id,
                },
            )
        log.info(
            "orders stored",
            extra={
                "stored": len(inserted),
                "duplicates": len({message_id for _, message_id, _ in orders}) - len(inserted),
                "rejected": len(batch) - len(orders),
            },
        )

    def _reject(self, channel: BlockingChannel, delivery: Delivery, details: object) -> None:
        # Redelivering it would fail the same way forever; there is no dead-letter queue, so
        # the log line is the record of it.
        log.error(
            "rejected a message that cannot be stored",
            extra={
                "request_id": delivery.properties.correlation_id,
                "amqp_message_id": delivery.properties.message_id,
                "details": details,
                "body": delivery.body[:500].decode(errors="replace"),
            },
        )
        channel.basic_reject(delivery.tag, requeue=False)


def init_app(app: Flask, settings: BillingSettings, engine: Engine) -> BillingConsumer:
    """Create the app's consumer (gunicorn starts it after the worker boots) and probe it."""
    consumer = BillingConsumer(
        rabbitmq_url=settings.rabbitmq_url, queue=settings.billing_queue, engine=engine
    )
    app.extensions[_EXTENSION] = consumer
    add_readiness_check(app, "consumer", consumer.check_ready)
    return consumer


def consumer_of(app: object) -> BillingConsumer | None:
    """The consumer of a billing app, or None for anything else (gunicorn's master has no app)."""
    return extension_of(app, _EXTENSION, BillingConsumer)
