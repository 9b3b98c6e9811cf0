"""Measured prefill latencies and decode step times, and the comparison of the model with them.

The shipped data set is splitwise's `perf_model.csv` (vLLM 2023, FP16, DGX-A100 and DGX-H100;
MIT licence, `planner/perf/data/splitwise/LICENSE`). Rows are grouped by configuration and the
median of the repetitions is used.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SPLITWISE_GPU = {"a100-80gb": "a100-80-sxm", "h100-80gb": "h100-sxm"}
SPLITWISE_MODEL = {"llama2-70b": "llama-2-70b", "bloom-176b": "bloom-176b"}
SPLITWISE_DTYPE = "fp16"


@dataclass(frozen=True)
class Measurement:
    gpu: str
    model: str
    tp: int
    phase: str  # prefill | decode
    batch: int
    prompt_tokens: int
    context_tokens: float  # decode: mean context over the generation (prompt + output/2)
    latency_ms: float
    repetitions: int
    excluded: str = ""  # reason the row is left out of fits and error statistics

    @property
    def key(self) -> str:
        return (
            f"{self.model} {self.gpu} tp{self.tp} {self.phase} b{self.batch} "
            f"s{self.prompt_tokens}" + (f" c{self.context_tokens:g}" if self.phase == "decode" else "")
        )


def splitwise_path() -> Path:
    return Path(str(resources.files("planner.perf") / "data" / "splitwise" / "perf_model.csv"))


SplitwiseKey = tuple[str, str, int, int, int, int]  # model, gpu (catalog ids), tp, batch, prompt, output


def load_splitwise(path: Path | None = None) -> list[Measurement]:
    """Median prefill and decode times per configuration, synthetic `-pcap` rows dropped."""
    records: list[tuple[SplitwiseKey, float, float]] = []
    with open(path or splitwise_path(), newline="") as f:
        for r in csv.DictReader(f):
            if r["hardware"] not in SPLITWISE_GPU:
                continue  # h100-80gb-pcap: synthetic power-capped rows, not measurements
            key = (
                SPLITWISE_MODEL[r["model"]],
                SPLITWISE_GPU[r["hardware"]],
                int(r["tensor_parallel"]),
                int(r["batch_size"]),
                int(r["prompt_size"]),
                int(r["token_size"]),
            )
            records.append((key, float(r["prompt_time"]), float(r["token_time"])))
    return from_splitwise_records(records)


def from_splitwise_records(records: Iterable[tuple[SplitwiseKey, float, float]]) -> list[Measurement]:
    """Splitwise runs `(key, prompt_time ms, token_time ms)` -> one prefill row per (model, GPU,
    TP, batch, prompt) and one decode row per (..., output length), medians of the repetitions,
    corrupt configurations flagged (`flag_corrupt`)."""
    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for key, prompt_ms, token_ms in records:
        groups[key].append((prompt_ms, token_ms))
    prefill: dict[tuple, list[float]] = defaultdict(list)
    out: list[Measurement] = []
    for (model, gpu, tp, b, s, o), vals in sorted(groups.items()):
        # the prefill does not depend on the output length: pool those repetitions
        prefill[(model, gpu, tp, b, s)].extend(v[0] for v in vals)
        out.append(
            Measurement(gpu, model, tp, "decode", b, s, s + o / 2, statistics.median(v[1] for v in vals), len(vals))
        )
    for (model, gpu, tp, b, s), vals in sorted(prefill.items()):
        out.append(Measurement(gpu, model, tp, "prefill", b, s, s, statistics.median(vals), len(vals)))
    return flag_corrupt(out)


def flag_corrupt(rows: list[Measurement]) -> list[Measurement]:
    """Flag rows whose prefill time falls as the batch doubles: work doubles, so time cannot drop.

    In the splitwise data these are Llama-2-70B TP2 at batch 64 on both GPUs (prefill 794 ms on
    A100 after 6,633 ms at batch 32; decode steps faster than at batch 32 too): 138 GB of weights
    on two 80 GB GPUs leave a few GB for 64 requests' KV and activations. Both the prefill and the
    decode row of such a configuration are left out.
    """
    by_cfg = {(m.model, m.gpu, m.tp, m.phase, m.batch, m.prompt_tokens): m for m in rows if m.phase == "prefill"}
    bad: dict[tuple, str] = {}
    for (model, gpu, tp, phase, b, s), m in by_cfg.items():
        prev = by_cfg.get((model, gpu, tp, phase, b // 2, s))
        if prev and b > 1 and m.latency_ms < prev.latency_ms:
            bad[(model, gpu, tp, b, s)] = (
                f"corrupt: prefill {m.latency_ms:.0f} ms at batch {b} < {prev.latency_ms:.0f} ms at "
                f"batch {b // 2}, although the work doubles (out-of-memory territory on {tp} GPUs)"
            )
    result = []
    for m in rows:
        reason = bad.get((m.model, m.gpu, m.tp, m.batch, m.prompt_tokens))
        result.append(Measurement(**{**m.__dict__, "excluded": reason}) if reason else m)
    return result
