"""The performance model against the measured splitwise rows shipped in the repository."""

from __future__ import annotations

import statistics

import pytest

from planner.perf.measurements import load_splitwise
from planner.perf.validate import FITTED_FAMILIES, accuracy, evaluate_defaults, fit_defaults

# figures of the 2023 engine profile (see conftest.legacy_engine)
pytestmark = pytest.mark.usefixtures("legacy_engine")

MEDIAN_BOUND = 0.15
WORST_BOUND = 0.40


@pytest.fixture(scope="module")
def rows():
    return load_splitwise()


def test_rows_loaded_and_synthetic_rows_dropped(rows):
    assert {m.gpu for m in rows} == {"a100-80-sxm", "h100-sxm"}
    assert {m.model for m in rows} == {"llama-2-70b", "bloom-176b"}
    assert {m.tp for m in rows if m.model == "llama-2-70b"} == {2, 4, 8}
    assert {m.tp for m in rows if m.model == "bloom-176b"} == {8}
    # 152 configurations with decode rows, 104 distinct prefill configurations
    assert sum(m.phase == "decode" for m in rows) == 152
    assert sum(m.phase == "prefill" for m in rows) == 104


def test_corrupt_rows_are_the_tp2_batch64_ones(rows):
    excluded = sorted(m.key for m in rows if m.excluded)
    assert excluded == [
        "llama-2-70b a100-80-sxm tp2 decode b64 s512 c576",
        "llama-2-70b a100-80-sxm tp2 prefill b64 s512",
        "llama-2-70b h100-sxm tp2 decode b64 s512 c576",
        "llama-2-70b h100-sxm tp2 prefill b64 s512",
    ]
    assert all("corrupt" in m.excluded for m in rows if m.excluded)


def test_shipped_defaults_meet_the_error_bounds(rows):
    results = evaluate_defaults(rows)
    by_phase = {a.phase: a for a in accuracy(results)}
    for phase in ("prefill", "decode"):
        a = by_phase[phase]
        assert a.median_abs_error <= MEDIAN_BOUND, (phase, a)
        assert a.worst_abs_error <= WORST_BOUND, (phase, a)
    # the figures quoted in the README: keep them honest
    assert by_phase["prefill"].median_abs_error == pytest.approx(0.074, abs=0.01)
    assert by_phase["decode"].median_abs_error == pytest.approx(0.034, abs=0.01)


def test_each_gpu_meets_the_bounds_on_its_own(rows):
    for family, res in evaluate_defaults(rows).items():
        for phase in ("prefill", "decode"):
            errs = res.errors(phase)
            assert statistics.median(errs) <= MEDIAN_BOUND, (family, phase)
            assert max(errs) <= WORST_BOUND, (family, phase)


def test_shipped_defaults_are_the_current_fit(rows):
    """efficiency.yaml must be what `make fit` produces from the shipped data and code."""
    fitted = fit_defaults(rows)
    shipped = evaluate_defaults(rows)
    for family in FITTED_FAMILIES:
        for a, b in zip(fitted[family].efficiency.as_vector(), shipped[family].efficiency.as_vector()):
            assert a == pytest.approx(b, rel=0.02)


def test_tp8_decode_is_overhead_dominated(rows):
    """A roofline without communication and overhead terms over-predicts TP8 decode speed
    several times; the model must not."""
    res = evaluate_defaults(rows)["ampere"]
    for m, pred in res.rows:
        if m.phase == "decode" and m.tp == 8 and m.batch == 1 and m.model == "llama-2-70b":
            roofline_ms = 137.95e9 / 8 / 2.039e12 * 1e3  # weights / (8 GPUs x 2.039 TB/s)
            assert m.latency_ms > 4 * roofline_ms
            assert pred == pytest.approx(m.latency_ms, rel=0.15)
