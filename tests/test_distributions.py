"""Request classes from distributions: the Azure traces and a log-normal, bucketed with exact
means; the trace's arrival rate as the QPS target."""

from __future__ import annotations

import csv
from datetime import datetime

import numpy as np
import pytest

from conftest import write
from golden_cases import ROOT
from planner.api import load_problem, plan_problem
from planner.errors import InputError
from planner.specs.distributions import classes_from_samples, lognormal_bucket_means, read_trace

# figures of the 2023 engine profile (see conftest.legacy_engine)
pytestmark = pytest.mark.usefixtures("legacy_engine")

TRACES = ROOT / "workloads" / "data" / "azure-llm-inference-2023"
FLEET = ROOT / "fleets" / "h100-a100.yaml"


def raw(name: str):
    with open(TRACES / name) as f:
        rows = list(csv.DictReader(f))
    prompts = np.array([float(r["ContextTokens"]) for r in rows])
    outputs = np.array([float(r["GeneratedTokens"]) for r in rows])
    stamps = [datetime.fromisoformat(r["TIMESTAMP"][:26]) for r in rows]
    return prompts, outputs, (max(stamps) - min(stamps)).total_seconds()


@pytest.mark.parametrize("name", ["AzureLLMInferenceTrace_code.csv", "AzureLLMInferenceTrace_conv.csv"])
def test_trace_buckets_keep_the_means_exact(name):
    prompts, outputs, _ = raw(name)
    classes = classes_from_samples(prompts, outputs, 3, 2)
    assert len(classes) == 6
    assert sum(c.share for c in classes) == pytest.approx(1.0, abs=1e-12)
    assert sum(c.share * c.prompt_tokens for c in classes) == pytest.approx(prompts.mean(), rel=1e-12)
    assert sum(c.share * c.output_tokens for c in classes) == pytest.approx(outputs.mean(), rel=1e-12)
    # equal-probability prompt buckets: each third of the requests, in prompt order
    edges = np.quantile(prompts, [1 / 3, 2 / 3])
    assert classes[0].prompt_tokens < edges[0] + 1 and classes[4].prompt_tokens > edges[1] - 1


def test_trace_reader_and_rate():
    t = read_trace(TRACES / "AzureLLMInferenceTrace_code.csv")
    prompts, outputs, span = raw("AzureLLMInferenceTrace_code.csv")
    assert len(t.prompt_tokens) == 8819
    assert t.prompt_tokens.mean() == pytest.approx(2048, abs=1)  # the data's README: 2,048
    assert t.output_tokens.mean() == pytest.approx(28, abs=0.5)
    assert t.rate_per_s == pytest.approx(8819 / span)


def test_qps_trace_uses_the_arrival_rate(tmp_path):
    text = (ROOT / "workloads" / "azure-conv-llama70b.yaml").read_text().replace("qps: max", "qps: trace")
    w = write(tmp_path, "w.yaml", text.replace("data/azure", str(TRACES.parent) + "/azure"))
    p = load_problem(FLEET, w)
    _, _, span = raw("AzureLLMInferenceTrace_conv.csv")
    assert p.qps_target == pytest.approx(19366 / span)


def test_lognormal_buckets_are_conditional_means():
    means = lognormal_bucket_means(1000.0, 0.8, 4)
    assert sum(means) / 4 == pytest.approx(1000.0, rel=1e-9)  # equal-probability buckets
    rng = np.random.default_rng(7)
    mu = np.log(1000.0) - 0.8**2 / 2
    x = np.sort(rng.lognormal(mu, 0.8, 400_000))
    for got, part in zip(means, np.array_split(x, 4)):
        assert got == pytest.approx(part.mean(), rel=0.02)


def test_lognormal_workload(tmp_path):
    w = write(
        tmp_path,
        "w.yaml",
        "model: llama-3.1-8b\nrequests:\n  lognormal:\n    prompt_tokens: {mean: 1155, sigma: 0.9}\n"
        "    output_tokens: {mean: 211, sigma: 1.0}\n  prompt_buckets: 2\n  output_buckets: 2\n",
    )
    p = load_problem(ROOT / "fleets" / "cloud-mix.yaml", w)
    assert [c.name for c in p.classes] == ["p1o1", "p1o2", "p2o1", "p2o2"]
    assert p.mean_prompt_tokens == pytest.approx(1155, rel=1e-9)
    assert p.mean_output_tokens == pytest.approx(211, rel=1e-9)


def test_code_and_conversation_traces_split_the_fleet_differently():
    """Prefill-heavy code requests make the A100s prefill too; decode-heavy conversations keep
    the H100s on prefill and every A100 on decode."""
    plans = {}
    for t in ("code", "conv"):
        plan = plan_problem(load_problem(FLEET, ROOT / "workloads" / f"azure-{t}-llama70b.yaml"), explain=False)
        split = {}
        for pool in plan.pools:
            split[(pool.gpu, pool.role)] = split.get((pool.gpu, pool.role), 0) + pool.gpus
        plans[t] = split
    assert plans["code"].get(("h100-sxm", "prefill"), 0) == 16
    assert plans["code"].get(("a100-80-sxm", "prefill"), 0) >= 24
    assert plans["conv"].get(("h100-sxm", "prefill"), 0) == 16
    assert plans["conv"].get(("a100-80-sxm", "prefill"), 0) == 0
    assert plans["conv"].get(("a100-80-sxm", "decode"), 0) == 32


@pytest.mark.parametrize(
    "requests, message",
    [
        ("requests:\n  trace: nothere.csv\n", r"w.yaml:3:10: requests.trace: .*nothere.csv: trace file not found"),
        ("requests:\n  trace: bad.csv\n", r"bad.csv:1:1: expected the header TIMESTAMP,ContextTokens,GeneratedTokens"),
        ("requests:\n  trace: t.csv\n  lognormal: {prompt_tokens: {mean: 9, sigma: 1}, output_tokens: {mean: 9, sigma: 1}}\n", r"give exactly one of trace, lognormal or grid"),
        ("classes: [{name: a, prompt_tokens: 9, output_tokens: 9, share: 1}]\ntraffic: {qps: trace}\n", r"traffic.qps: qps: trace needs requests.trace"),
    ],
)
def test_distribution_errors(tmp_path, requests, message):
    write(tmp_path, "bad.csv", "time,prompt,output\n")
    w = write(tmp_path, "w.yaml", "model: llama-3.1-8b\n" + requests)
    with pytest.raises(InputError, match=message):
        load_problem(ROOT / "fleets" / "cloud-mix.yaml", w)


def test_oversized_trace_is_refused(tmp_path):
    from planner.specs.distributions import MAX_TRACE_BYTES

    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(MAX_TRACE_BYTES + 1)  # sparse: an oversized trace without writing it
    with pytest.raises(InputError, match=rf"trace is {MAX_TRACE_BYTES + 1} bytes; traces are limited to {MAX_TRACE_BYTES}"):
        read_trace(big)


def test_azure_code_and_conversation_traces_split_the_roles_differently(root):
    """Issue 3: on the same H100 + A100 fleet the prefill-heavy code trace (mean prompt 2,048,
    output 28) puts A100s on prefill too; the decode-heavy conversation trace (1,155 / 211)
    keeps every A100 on decode."""
    from planner.api import load_problem, plan_problem

    def split(workload: str):
        plan = plan_problem(load_problem(root / "fleets" / "h100-a100.yaml", root / "workloads" / workload), explain=False)
        roles: dict[tuple[str, str], int] = {}
        for p in plan.pools:
            roles[p.gpu, p.role] = roles.get((p.gpu, p.role), 0) + p.gpus
        return plan.throughput.requests_per_s, roles

    code_rate, code = split("azure-code-llama70b.yaml")
    conv_rate, conv = split("azure-conv-llama70b.yaml")
    assert code_rate == pytest.approx(23.42, abs=0.01) and conv_rate == pytest.approx(35.06, abs=0.01)
    assert code == {("h100-sxm", "prefill"): 16, ("a100-80-sxm", "prefill"): 28, ("a100-80-sxm", "decode"): 4}
    assert conv == {("h100-sxm", "prefill"): 16, ("a100-80-sxm", "decode"): 32}
