"""The model grid: prefill and decode times over shapes, memory marks, and the memory budget."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console

from planner.catalog import catalog
from planner.errors import InfeasibleError, InputError
from planner.perf.efficiency import Efficiency
from planner.perf.estimate import estimate
from planner.perf.grid import model_grid
from planner.perf.model import Deployment
from planner.report.grid import render_model_grid


@pytest.fixture(scope="module")
def grid():
    # Llama-3.1-70B in BF16 on two H100s: 70.5 GB of weights per GPU leave 5.75 GB of KV cache
    return model_grid("h100-sxm", "llama-3.1-70b", 2, [1, 8, 32], [512, 2048], [1024, 4096, 200_000])


def _deployment(tp=2) -> Deployment:
    cat = catalog()
    gpu = cat.gpu("h100-sxm")
    return Deployment(gpu, cat.model("llama-3.1-70b"), tp, "bf16", "bf16", "bf16", gpu.efficiency)


def test_cells_are_the_models_times(grid):
    d = _deployment()
    cell = grid.prefill[1][1]  # batch 8, 2048 tokens
    assert (cell.batch, cell.tokens) == (8, 2048)
    assert cell.time_ms == d.prefill_ms(2048, 8)
    assert cell.tokens_per_s == pytest.approx(8 * 2048 / d.prefill_ms(2048, 8) * 1e3)
    cell = grid.decode[2][0]  # batch 32, context 1024
    assert (cell.batch, cell.tokens) == (32, 1024)
    assert cell.time_ms == float(d.decode_step_ms(32, 1024))
    # real numbers (vllm profile): 71 ms for one 512-token prompt, 27.6 ms per decode step at batch 1 (2023: 89 and 37)
    assert grid.prefill[0][0].time_ms == pytest.approx(71.0, abs=0.1)
    assert grid.decode[0][0].time_ms == pytest.approx(27.6, abs=0.1)


def test_memory_budget_is_the_deployments(grid):
    d, m = _deployment(), grid.memory
    assert m.weight_bytes_per_gpu == d.weight_bytes_per_gpu
    assert m.kv_budget_bytes_per_gpu == d.kv_budget_bytes
    assert m.kv_bytes_per_token_per_gpu == d.kv_bytes_per_token_per_gpu
    assert m.max_tokens_in_cache == d.max_tokens_in_cache() == 35_087
    assert m.max_batch_by_context == {1024: 34, 4096: 8, 200_000: 0}
    est = estimate("h100-sxm", "llama-3.1-70b", 2, 1, 1024)
    assert est["memory"]["max_tokens_in_cache"] == m.max_tokens_in_cache
    assert est["memory"]["weight_bytes_per_gpu"] == round(m.weight_bytes_per_gpu)


def test_cells_beyond_memory_are_marked(grid):
    # 8 x 2048 = 16,384 tokens fit in 35,087; 32 x 2048 = 65,536 do not
    assert grid.prefill[1][1].fits
    assert grid.prefill[2][1].limit == "kv-cache" and not grid.prefill[2][1].fits
    assert grid.prefill[2][0].fits  # 32 x 512 = 16,384
    assert grid.decode[2][1].limit == "kv-cache"  # 32 x 4096
    assert grid.decode[1][1].fits  # 8 x 4096 = 32,768
    # beyond the 131,072-token context window, whatever the batch
    assert {row[2].limit for row in grid.decode} == {"max-context"}
    # the time is still given
    assert grid.decode[0][2].time_ms > grid.decode[0][1].time_ms


def test_weights_that_do_not_fit_mark_every_cell():
    g = model_grid("h100-sxm", "llama-3.1-70b", 1, [1], [512], [1024])
    assert g.memory.kv_budget_bytes_per_gpu < 0 and g.memory.max_tokens_in_cache == 0
    assert g.prefill[0][0].limit == g.decode[0][0].limit == "weights"


def test_json_form(grid):
    d = json.loads(json.dumps(grid.to_dict()))
    assert (d["gpu"], d["model"], d["tp"], d["weight_dtype"], d["compute_dtype"]) == (
        "h100-sxm", "llama-3.1-70b", 2, "bf16", "bf16",
    )
    assert len(d["prefill"]) == 6 and len(d["decode"]) == 9
    cell = next(c for c in d["prefill"] if c["batch"] == 32 and c["prompt_tokens"] == 2048)
    assert cell["fits"] is False and cell["limit"] == "kv-cache"
    assert d["memory"]["max_tokens_in_cache"] == 35_087
    assert d["memory"]["max_batch_by_context"]["4096"] == 8
    assert d["efficiency"]["source"].startswith("fitted on 90 measured serving points (vllm")


def test_dtypes_and_efficiency_override():
    g = model_grid("h100-sxm", "llama-3.1-70b", 2, [1], [512], [1024], weight_dtype="fp8", kv_dtype="fp8")
    assert g.deployment.compute_dtype == "fp8"
    assert g.memory.weight_bytes_per_gpu == pytest.approx(_deployment().weight_bytes_per_gpu / 2, rel=0.01)
    slow = Efficiency(0.3, 0.5, 50, 50, 300, 100, 5, source="profile x")
    g2 = model_grid("h100-sxm", "llama-3.1-70b", 2, [1], [512], [1024], efficiency=slow)
    assert g2.deployment.eff is slow
    assert g2.decode[0][0].time_ms > model_grid("h100-sxm", "llama-3.1-70b", 2, [1], [512], [1024]).decode[0][0].time_ms


@pytest.mark.parametrize(
    "kwargs,error,expected",
    [
        ({"tp": 3}, InputError, "--tp: 3 is not a power of two"),
        ({"tp": 16}, InputError, "--tp: 16 exceeds h100-sxm's 8-GPU"),
        ({"gpu_id": "h100-sxn"}, InputError, "did you mean 'h100-sxm'"),
        ({"model_id": "llama-70b"}, InputError, "--model: unknown model"),
        ({"batches": []}, InputError, "batches: expected whole numbers >= 1"),
        ({"context_lengths": [0]}, InputError, "context lengths: expected whole numbers >= 1"),
        ({"gpu_id": "v100-sxm2-32gb", "model_id": "llama-3.1-8b", "weight_dtype": "fp16", "kv_dtype": "fp8"}, InfeasibleError,
         "cannot hold an FP8 KV cache"),
        ({"gpu_id": "v100-sxm2-32gb", "model_id": "llama-3.1-8b", "kv_dtype": "bf16"}, InfeasibleError, "no bf16 support"),
    ],
)
def test_errors(kwargs, error, expected):
    args = {"gpu_id": "h100-sxm", "model_id": "llama-3.1-70b", "tp": 2, "batches": [1], "prompt_lengths": [512],
            "context_lengths": [1024]} | kwargs
    with pytest.raises(error, match=re.escape(expected)):
        model_grid(**args)


def test_render(grid):
    console = Console(record=True, width=160)
    render_model_grid(grid, console)
    out = console.export_text()
    assert "llama-3.1-70b on h100-sxm TP2" in out
    assert "35,087" in out and "max batch at 4,096 tokens" in out
    assert "71.0" in out and "kv" in out and "ctx" in out
    assert "do not fit" in out
