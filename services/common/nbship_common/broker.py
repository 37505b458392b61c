"""RabbitMQ pieces the publisher (gateway) and the consumer (billing) must agree on."""

from __future__ import annotations

import pika
from pika.adapters.blocking_connection import BlockingChannel

# Heartbeats let both sides notice a dead peer within about a minute instead of TCP's hours.
HEARTBEAT_SECONDS = 30
# Connecting gives up quickly: callers either answer 503 or back off and try again.
CONNECT_TIMEOUT_SECONDS = 3.0
# A broker under a memory/disk alarm blocks publishers; give up rather than hang a request.
BLOCKED_TIMEOUT_SECONDS = 10.0


def connection_parameters(url: str, *, connection_name: str) -> pika.URLParameters:
    """Parameters for `url` with the project's timeouts and a name shown in the broker UI."""
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = CONNECT_TIMEOUT_SECONDS
    params.stack_timeout = CONNECT_TIMEOUT_SECONDS * 2
    params.heartbeat = HEARTBEAT_SECONDS
    params.blocked_connection_timeout = BLOCKED_TIMEOUT_SECONDS
    params.client_properties = {"connection_name": connection_name}
    return params


def declare_queue(channel: BlockingChannel, queue: str) -> None:
    """Declare the billing queue durable; both sides declare it with exactly these arguments."""
    channel.queue_declare(queue=queue, durable=True)


def persistent_json_properties(message_id: str, request_id: str) -> pika.BasicProperties:
    """Properties of a message that survives a broker restart and carries the request id."""
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=message_id,
        correlation_id=request_id,
    )
