"""Publishes orders to the billing queue with publisher confirms, one channel per thread.

pika's BlockingConnection is not thread-safe, and gunicorn's gthread worker serves requests on
several threads, so each thread keeps its own connection and channel (threading.local).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import pika
from flask import Flask, Response, current_app
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import AMQPError

from nbship_common.broker import connection_parameters, declare_queue, persistent_json_properties
from nbship_common.errors import describe, error_response
from nbship_common.health import add_readiness_check

log = logging.getLogger(__name__)

_EXTENSION = "billing_publisher"


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or did not confirm the message."""


class BillingPublisher:
    """Sends persistent JSON messages to the billing queue and waits for the broker's confirm."""

    def __init__(self, rabbitmq_url: str, queue: str) -> None:
        self._parameters = connection_parameters(rabbitmq_url, connection_name="api-gateway")
        self._queue = queue
        self._local = threading.local()

    def publish(self, message: dict[str, object], *, message_id: str, request_id: str) -> None:
        """Return once the broker has confirmed `message`; raise BrokerUnavailable otherwise.

        Should a retry after a dead kept connection put two copies in the queue, billing stores
        the message id only once.
        """
        body = json.dumps(message).encode()
        properties = persistent_json_properties(message_id, request_id)

        def send(channel: BlockingChannel) -> None:
            # mandatory: an unroutable message raises instead of vanishing; with confirms on,
            # basic_publish blocks until the broker has the message on disk (or nacks it).
            channel.basic_publish(
                exchange="",
                routing_key=self._queue,
                body=body,
                properties=properties,
                mandatory=True,
            )

        self._run(send)

    def ping(self) -> None:
        """Readiness check: this thread has an open channel to the broker."""
        self._run(lambda _channel: None)

    def _run(self, action: Callable[[BlockingChannel], None]) -> None:
        """Run `action` on this thread's channel, reconnecting once if a kept one had died.

        A failure on a fresh connection is not retried: the broker is away, and a second
        attempt would only double the time the client waits for its 503.
        """
        kept = getattr(self._local, "connection", None) is not None
        try:
            action(self._channel())
            return
        except (AMQPError, OSError) as exc:
            self._reset()
            if not kept:
                raise BrokerUnavailable(describe(exc)) from exc
            log.info(
                "kept broker connection had died; reconnecting", extra={"reason": describe(exc)}
            )
        try:
            action(self._channel())
        except (AMQPError, OSError) as exc:
            self._reset()
            raise BrokerUnavailable(describe(exc)) from exc

    def _channel(self) -> BlockingChannel:
        connection: BlockingConnection | None = getattr(self._local, "connection", None)
        channel: BlockingChannel | None = getattr(self._local, "channel", None)
        if (
            connection is not None
            and connection.is_open
            and channel is not None
            and channel.is_open
        ):
            # Services heartbeats and raises now if the broker closed the connection while this
            # thread was idle, so the retry gets a fresh one.
            connection.process_data_events(0)
            return channel
        self._reset()
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            declare_queue(channel, self._queue)
        except BaseException:
            _close_quietly(connection)
            raise
        self._local.connection = connection
        self._local.channel = channel
        return channel

    def _reset(self) -> None:
        connection: BlockingConnection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        self._local.channel = None
        if connection is not None:
            _close_quietly(connection)


def _close_quietly(connection: BlockingConnection) -> None:
    if connection.is_open:
        try:
            connection.close()
        except (AMQPError, OSError):
            log.debug("closing a broker connection failed", exc_info=True)


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


def _broker_unavailable(exc: BrokerUnavailable) -> Response:
    log.error("billing queue unavailable", extra={"reason": str(exc)})
    return error_response(
        503, "billing queue unavailable", "the order was not accepted; try again shortly"
    )
