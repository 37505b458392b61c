"""Billing benchmark figures: the naive pipeline's rates and the ratios judged against them."""

from __future__ import annotations

import json

import pytest

from billing.consumer import parse_message
from nbship.errors import NbshipError
from nbship_bench import billing, naive_billing

STAMPS = {
    "publish_started": 100.0,
    "publish_finished": 104.0,
    "started": 100.0,
    "first_commit": 100.5,
    "finished": 105.0,
    "rows": 2000,
}


def test_naive_rates_come_from_its_timestamps() -> None:
    figures = billing.naive_figures(2000, STAMPS)
    assert figures["publish_rate"] == 500.0  # 2000 in 4 s
    assert figures["rate"] == 400.0  # first publish to last commit: 5 s
    assert figures["rate_from_first_commit"] == 444.4  # 4.5 s


def test_a_naive_run_that_lost_orders_is_refused() -> None:
    with pytest.raises(NbshipError, match="stored 1999 of 2000"):
        billing.naive_figures(2000, {**STAMPS, "rows": 1999})


def test_an_incomplete_naive_answer_is_one_clear_error() -> None:
    with pytest.raises(NbshipError, match="answer is incomplete"):
        billing.naive_figures(2000, {"rows": 2000})


def test_the_naive_answer_is_the_last_line_printed() -> None:
    assert billing._json_object('a warning\n{"rows": 3}\n') == {"rows": 3}
    with pytest.raises(NbshipError, match="printed no JSON object"):
        billing._json_object("Traceback ...\nKeyError: 'x'\n")


def test_targets_are_ratios_to_the_naive_pipeline_with_absolute_figures_beside() -> None:
    e2e = {"rate": 1200.0, "post_rate": 1210.0, "lag_after_last_post_s": 0.05}
    backlog = {"rate": 9000.0}
    naive_e2e = {"rate": 400.0}
    naive_drain = {"rate_from_first_commit": 450.0}
    metrics = billing.metrics(e2e, backlog, naive_e2e, naive_drain)
    judged = [m for m in metrics if m.target is not None]
    assert [(m.name, m.value, m.measured, m.baseline, m.passed) for m in judged] == [
        ("end to end / naive pipeline", 3.0, 1200.0, 400.0, True),
        ("backlog drain / naive pipeline", 20.0, 9000.0, 450.0, True),
    ]
    # No absolute rate is judged: it moves with the machine's neighbours.
    assert all(m.is_ratio for m in judged)
    assert {"end-to-end orders/s", "naive end-to-end orders/s"} <= {m.name for m in metrics}


def test_naive_messages_are_orders_billing_itself_accepts() -> None:
    """The baseline stores what the gateway would queue, so each commit costs what billing's do."""
    ids = set()
    for number in (0, 1, 999, 123_456):
        message_id, order = parse_message(naive_billing.message(number))
        ids.add(message_id)
        assert order.number_of_items >= 1
    assert len(ids) == 4
    assert json.loads(naive_billing.message(7))["user_id"] == 8
