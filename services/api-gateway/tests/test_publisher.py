"""Publisher confirms: which waiting order each broker answer settles, and how."""

from __future__ import annotations

import pytest
from gevent.event import AsyncResult

from gateway.publisher import BrokerUnavailable, Confirms


def outcome(waiter: AsyncResult) -> str:
    """ "waiting", "confirmed" or the failure's message."""
    if not waiter.ready():
        return "waiting"
    try:
        waiter.get()
    except BrokerUnavailable as exc:
        return str(exc)
    return "confirmed"


def test_tags_count_from_one_in_publish_order() -> None:
    confirms = Confirms()
    assert [confirms.expect(f"m{n}")[0] for n in range(3)] == [1, 2, 3]


def test_a_single_ack_confirms_only_its_own_message() -> None:
    confirms = Confirms()
    waiters = [confirms.expect(f"m{n}")[1] for n in range(3)]
    confirms.settle(2, multiple=False, ack=True)
    assert [outcome(w) for w in waiters] == ["waiting", "confirmed", "waiting"]
    assert len(confirms) == 2


def test_a_multiple_ack_confirms_every_message_up_to_its_tag() -> None:
    confirms = Confirms()
    waiters = [confirms.expect(f"m{n}")[1] for n in range(5)]
    confirms.settle(1, multiple=False, ack=True)
    confirms.settle(4, multiple=True, ack=True)
    assert [outcome(w) for w in waiters] == ["confirmed"] * 4 + ["waiting"]


def test_a_nack_fails_the_messages_it_names() -> None:
    confirms = Confirms()
    waiters = [confirms.expect(f"m{n}")[1] for n in range(3)]
    confirms.settle(2, multiple=True, ack=False)
    assert [outcome(w) for w in waiters[:2]] == ["the broker refused the message (nack)"] * 2
    assert outcome(waiters[2]) == "waiting"


def test_a_returned_message_fails_even_though_the_broker_acks_it() -> None:
    confirms = Confirms()
    first = confirms.expect("routed")[1]
    second = confirms.expect("unroutable")[1]
    confirms.returned("unroutable")
    confirms.settle(2, multiple=True, ack=True)
    assert outcome(first) == "confirmed"
    assert outcome(second) == "no billing queue to route the message to"


def test_a_lost_channel_fails_every_waiting_message() -> None:
    confirms = Confirms()
    waiters = [confirms.expect(f"m{n}")[1] for n in range(3)]
    confirms.settle(1, multiple=False, ack=True)
    confirms.fail_all("connection reset")
    assert [outcome(w) for w in waiters] == ["confirmed", "connection reset", "connection reset"]
    assert len(confirms) == 0


def test_a_forgotten_message_is_ignored_when_its_confirm_comes() -> None:
    confirms = Confirms()
    tag, waiter = confirms.expect("late")
    confirms.forget(tag)
    confirms.settle(tag, multiple=False, ack=True)
    assert outcome(waiter) == "waiting"


@pytest.mark.parametrize("ack", [True, False])
def test_an_answer_for_an_unknown_tag_changes_nothing(ack: bool) -> None:
    confirms = Confirms()
    waiter = confirms.expect("m")[1]
    confirms.settle(7, multiple=False, ack=ack)
    assert outcome(waiter) == "waiting"
