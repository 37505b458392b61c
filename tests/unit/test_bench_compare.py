"""Benchmark comparisons: gateway vs direct rounds, build-log cache hits, billing notes."""

from __future__ import annotations

import pytest

from nbship.errors import NbshipError
from nbship_bench import billing, build, gateway


def rounds(gateway_ms: float, direct_ms: float, count: int = 100) -> list[dict]:
    made = []
    for index in range(2):
        for target, ms in (("gateway", gateway_ms), ("direct", direct_ms)):
            made.append({"target": target, "round": index, "elapsed": count * ms / 1000,
                         "errors": 0, "latencies_ms": [ms] * count})  # fmt: skip
    return made


def test_gateway_twice_as_slow_gives_ratios_of_two() -> None:
    figures = gateway.compare(rounds(gateway_ms=4.0, direct_ms=2.0))
    assert figures["p50_ratio"] == pytest.approx(2.0)
    assert figures["p99_ratio"] == pytest.approx(2.0)
    assert figures["throughput_ratio"] == pytest.approx(2.0)
    assert figures["throughput_ratio_per_round"] == [2.0, 2.0]
    assert figures["gateway"]["requests"] == 200


def test_compare_refuses_rounds_missing_a_target() -> None:
    only_gateway = [r for r in rounds(1.0, 1.0) if r["target"] == "gateway"]
    with pytest.raises(NbshipError, match="no direct rounds"):
        gateway.compare(only_gateway)


LEGACY_LOG = """\
Sending build context to Docker daemon  10.2MB
Step 1/4 : FROM nbship/python-build:local AS deps
 ---> dbb84e55b219
Step 2/4 : RUN python3 -m pip install --no-index --requirement /wheels/requirements.lock
 ---> Using cache
 ---> 1111
Step 3/4 : COPY services/inventory/ /app/
 ---> 2222
Step 4/4 : RUN python3.11 -m compileall -q /app
 ---> Running in 3333
Successfully built 4444
"""


def test_legacy_build_log_says_which_steps_came_from_the_cache() -> None:
    steps = build.parse_steps(LEGACY_LOG.splitlines())
    assert [(s.number, s.cached) for s in steps] == [(1, False), (2, True), (3, False), (4, False)]
    run = build.BuildRun("t", 1.0, "sha256:x", steps)
    assert run.step(r"pip .*install").cached
    # FROM makes no layer of its own: only the COPY and the RUN after it were rebuilt.
    assert [s.number for s in run.rebuilt] == [3, 4]
    with pytest.raises(NbshipError, match="no build step"):
        run.step("apt-get")


def test_unknown_service_is_refused_by_name() -> None:
    with pytest.raises(NbshipError, match="unknown service 'web'"):
        build.service_image("web")


def test_step_durations_run_from_one_step_to_the_next() -> None:
    lines = LEGACY_LOG.splitlines()
    times = [float(index) for index in range(len(lines))]
    steps = build.parse_steps(lines, times, end=20.0)
    assert [s.seconds for s in steps] == [2.0, 3.0, 2.0, 12.0]
    with pytest.raises(ValueError, match="one moment per line"):
        build.parse_steps(lines, times[:-1])


def test_end_to_end_note_names_the_side_that_limited_it() -> None:
    slow_billing = {"lag_after_last_post_s": 30.0, "seconds": 100.0, "post_rate": 200.0}
    slow_gateway = {"lag_after_last_post_s": 1.0, "seconds": 100.0, "post_rate": 100.0}
    assert billing.bottleneck(slow_billing).startswith("billing-app fell behind")
    assert billing.bottleneck(slow_gateway).startswith(
        "end to end is bounded by how fast the gateway"
    )
