"""Publishes orders to the billing queue with publisher confirms, over one connection per worker.

The gateway runs on gunicorn's gevent worker: every request is a greenlet of one thread. They all
share one broker connection and channel (pika's GeventConnection, driven by gevent's hub) and
never queue behind each other: each request publishes its message and waits only for the
broker's confirm of that message. The broker confirms many messages with one frame when they
arrive together (multiple=True), so under load a confirm costs little per order, where one
blocking channel per thread had each request wait its turn for a confirm of its own.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import gevent
import pika
from flask import Flask, Response, current_app
from gevent.event import AsyncResult
from pika.adapters.gevent_connection import GeventConnection
from pika.channel import Channel
from pika.exceptions import AMQPError
from pika.frame import Method
from pika.spec import Basic

from nbship_common.app import extension_of
from nbship_common.broker import (
    CONNECT_TIMEOUT_SECONDS,
    connection_parameters,
    persistent_json_properties,
)
from nbship_common.errors import describe, error_response
from nbship_common.health import add_readiness_check

log = logging.getLogger(__name__)

_EXTENSION = "billing_publisher"
# Connecting, opening a channel, turning on confirms and declaring the queue: pika gives up on
# its own after its stack timeout; this only bounds a broker that accepts and then goes silent.
OPEN_TIMEOUT_SECONDS = 3 * CONNECT_TIMEOUT_SECONDS
# A persistent message is confirmed once it is on disk; beyond this the client gets a 503.
CONFIRM_TIMEOUT_SECONDS = 10.0


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or did not confirm the message."""


@dataclass
class Confirms:
    """Messages published on one channel and waiting for the broker's confirm, by delivery tag.

    With confirms on, the broker numbers the messages of a channel 1, 2, 3, ... in the order it
    receives them, and acknowledges (or rejects) one tag, or every tag up to one (multiple).
    A mandatory message it cannot route comes back as a basic.return before its ack.
    """

    next_tag: int = 1
    _waiting: dict[int, AsyncResult] = field(default_factory=dict)
    _message_ids: dict[int, str] = field(default_factory=dict)
    _returned: set[str] = field(default_factory=set)

    def expect(self, message_id: str) -> tuple[int, AsyncResult]:
        """The tag the next message published on the channel gets, and its confirm to wait on."""
        tag, self.next_tag = self.next_tag, self.next_tag + 1
        waiter = AsyncResult()
        self._waiting[tag] = waiter
        self._message_ids[tag] = message_id
        return tag, waiter

    def forget(self, tag: int) -> None:
        """Stop tracking TAG (its request has given up waiting)."""
        self._waiting.pop(tag, None)
        self._returned.discard(self._message_ids.pop(tag, ""))

    def returned(self, message_id: str | None) -> None:
        """The broker could not route MESSAGE_ID: its coming ack must not count as success."""
        if message_id is not None:
            self._returned.add(message_id)

    def settle(self, tag: int, *, multiple: bool, ack: bool) -> None:
        """Resolve TAG (and every earlier tag, with MULTIPLE) as the broker acked or nacked it."""
        tags = [t for t in self._waiting if t <= tag] if multiple else [tag]
        for settled in tags:
            waiter = self._waiting.pop(settled, None)
            message_id = self._message_ids.pop(settled, "")
            if waiter is None:
                continue
            if message_id in self._returned:
                self._returned.discard(message_id)
                waiter.set_exception(BrokerUnavailable("no billing queue to route the message to"))
            elif ack:
                waiter.set(None)
            else:
                waiter.set_exception(BrokerUnavailable("the broker refused the message (nack)"))

    def fail_all(self, reason: str) -> None:
        """Every message still waiting will never be confirmed on this channel."""
        for waiter in self._waiting.values():
            waiter.set_exception(BrokerUnavailable(reason))
        self._waiting.clear()
        self._message_ids.clear()
        self._returned.clear()

    def __len__(self) -> int:
        return len(self._waiting)


class BillingPublisher:
    """Sends persistent JSON messages to the billing queue and waits for the broker's confirm.

    State belongs to one connection and its channel at a time. Callbacks from a connection or
    channel that has since been replaced (closed by us or by the broker) only settle that
    channel's own messages and never touch the current ones.
    """

    def __init__(self, rabbitmq_url: str, queue: str) -> None:
        self._parameters = connection_parameters(rabbitmq_url, connection_name="api-gateway")
        self._queue = queue
        self._hub: gevent.hub.Hub | None = None
        self._connection: GeventConnection | None = None
        # The open channel (confirms on, queue declared) and its messages awaiting a confirm.
        self._channel: Channel | None = None
        self._confirms = Confirms()
        # Set to (channel, confirms) once a connection attempt is ready, or to the failure.
        self._opening: AsyncResult | None = None

    def publish(self, message: dict[str, object], *, message_id: str, request_id: str) -> None:
        """Return once the broker has confirmed `message`; raise BrokerUnavailable otherwise.

        Should the client retry after a 503 whose message did reach the queue, billing stores
        each message id once, and the retry carries a new one: it is a new order.
        """
        channel, confirms = self._open_channel()
        body = json.dumps(message).encode()
        properties = persistent_json_properties(message_id, request_id)
        # No greenlet switch between taking the tag and publishing: tags follow publish order.
        tag, confirmed = confirms.expect(message_id)
        try:
            # mandatory: an unroutable message comes back (and fails) instead of vanishing.
            channel.basic_publish("", self._queue, body, properties, mandatory=True)
        except (AMQPError, OSError) as exc:
            confirms.forget(tag)
            raise BrokerUnavailable(describe(exc)) from exc
        try:
            confirmed.get(timeout=CONFIRM_TIMEOUT_SECONDS)
        except gevent.Timeout:
            confirms.forget(tag)
            raise BrokerUnavailable(
                f"no confirm from the broker within {CONFIRM_TIMEOUT_SECONDS:g}s"
            ) from None

    def ping(self) -> None:
        """Readiness check: the shared channel is open, confirms are on, the queue exists."""
        self._open_channel()

    def close(self) -> None:
        """Close the connection (gunicorn's worker_exit): the broker sees a clean goodbye."""
        self._drop_connection()

    def _open_channel(self) -> tuple[Channel, Confirms]:
        """The open channel, connecting first when there is none (one attempt for everyone)."""
        hub = gevent.get_hub()
        if self._hub is None:
            self._hub = hub
        elif hub is not self._hub:
            # pika's GeventConnection runs in one thread's hub; gunicorn's gevent worker has one.
            raise RuntimeError("BillingPublisher must be used from one thread (gevent worker)")
        if self._channel is not None and self._channel.is_open:
            return self._channel, self._confirms
        if self._opening is None:
            self._opening = AsyncResult()
            self._connect()
        opening = self._opening
        try:
            ready: tuple[Channel, Confirms] = opening.get(timeout=OPEN_TIMEOUT_SECONDS)
        except gevent.Timeout:
            if self._opening is opening:  # not a newer attempt started meanwhile
                self._fail_opening("connecting to the broker timed out")
                self._drop_connection()
            raise BrokerUnavailable(
                f"connecting to the broker took over {OPEN_TIMEOUT_SECONDS:g}s"
            ) from None
        return ready

    # --- pika callbacks: they run in gevent's hub, never concurrently with each other ----------

    def _connect(self) -> None:
        self._drop_connection()  # whatever is left of an earlier attempt
        try:
            self._connection = GeventConnection(
                self._parameters,
                on_open_callback=self._on_connection_open,
                on_open_error_callback=self._on_connection_open_error,
                on_close_callback=self._on_connection_closed,
            )
        except (AMQPError, OSError) as exc:
            self._connection = None
            self._fail_opening(describe(exc))

    def _on_connection_open(self, connection: pika.connection.Connection) -> None:
        if self._connection is not None and connection is self._connection:
            connection.channel(on_open_callback=self._on_channel_open)

    def _on_connection_open_error(
        self, connection: pika.connection.Connection, exc: BaseException | str
    ) -> None:
        if connection is self._connection:
            self._connection = None
            self._fail_opening(describe(exc) if isinstance(exc, BaseException) else str(exc))

    def _on_connection_closed(
        self, connection: pika.connection.Connection, exc: BaseException
    ) -> None:
        # pika has already closed its channels, whose callbacks failed their waiting messages.
        if connection is not self._connection:
            return  # one we dropped ourselves
        reason = describe(exc)
        self._connection = None
        self._channel = None
        self._fail_opening(reason)
        log.info("billing queue connection closed", extra={"reason": reason})

    def _on_channel_open(self, channel: Channel) -> None:
        confirms = Confirms()
        channel.add_on_close_callback(
            lambda closed, exc: self._on_channel_closed(closed, confirms, exc)
        )
        channel.add_on_return_callback(
            lambda _channel, _method, properties, _body: confirms.returned(properties.message_id)
        )
        channel.confirm_delivery(
            ack_nack_callback=lambda frame: self._on_confirm(confirms, frame),
            # Declared exactly as nbship_common.broker.declare_queue does on blocking channels.
            callback=lambda _frame: channel.queue_declare(
                self._queue,
                durable=True,
                callback=lambda _frame: self._on_ready(channel, confirms),
            ),
        )

    def _on_ready(self, channel: Channel, confirms: Confirms) -> None:
        if channel.connection is not self._connection:
            return
        self._channel, self._confirms = channel, confirms
        if self._opening is not None:
            self._opening.set((channel, confirms))
            self._opening = None
        log.info("billing queue connection open", extra={"queue": self._queue})

    def _on_channel_closed(self, channel: Channel, confirms: Confirms, exc: BaseException) -> None:
        reason = describe(exc)
        confirms.fail_all(f"the broker channel closed before confirming: {reason}")
        if channel.connection is not self._connection:
            return
        self._fail_opening(reason)
        # A channel the broker closed (a queue declared differently, say) will not come back on
        # this connection by itself: start afresh on the next request.
        self._drop_connection()

    @staticmethod
    def _on_confirm(confirms: Confirms, frame: Method) -> None:
        method = frame.method
        if isinstance(method, Basic.Ack | Basic.Nack):
            confirms.settle(
                method.delivery_tag, multiple=method.multiple, ack=isinstance(method, Basic.Ack)
            )

    def _fail_opening(self, reason: str) -> None:
        if self._opening is not None:
            self._opening.set_exception(BrokerUnavailable(reason))
            self._opening = None

    def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not (connection.is_closed or connection.is_closing):
            try:
                connection.close()
            except AMQPError:
                log.debug("closing the broker connection failed", exc_info=True)


def init_app(app: Flask, rabbitmq_url: str, queue: str) -> BillingPublisher:
    """Create the app's publisher (it connects lazily), answer 503 when it fails, probe it."""
    publisher = BillingPublisher(rabbitmq_url, queue)
    app.extensions[_EXTENSION] = publisher
    app.register_error_handler(BrokerUnavailable, _broker_unavailable)
    add_readiness_check(app, "broker", publisher.ping)
    return publisher


def billing_publisher() -> BillingPublisher:
    """The current app's publisher."""
    publisher: BillingPublisher = current_app.extensions[_EXTENSION]
    return publisher


def publisher_of(app: object) -> BillingPublisher | None:
    """The publisher of a gateway app, or None for anything else (gunicorn's master has no app)."""
    return extension_of(app, _EXTENSION, BillingPublisher)


def _broker_unavailable(exc: BrokerUnavailable) -> Response:
    log.error("billing queue unavailable", extra={"reason": str(exc)})
    return error_response(
        503, "billing queue unavailable", "the order was not accepted; try again shortly"
    )
