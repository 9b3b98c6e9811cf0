"""The built-in catalog: GPU and model facts with their sources, and efficiency defaults.

Data files (`planner/catalog/data/`):
    gpus.yaml        GPU facts transcribed from the reference catalog (datasheets; each row
                     keeps `sources` and `verification`), default prices with provider and date,
                     default per-GPU network bandwidth with its reasoning
    models.yaml      model architectures from public config.json files (exact source per row)
    efficiency.yaml  performance-model efficiency parameters per GPU family: fitted on measured
                     data where there is some, otherwise borrowed from the nearest fitted family
                     (each entry says which)
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from planner.catalog.types import Gpu, Model, Moe
from planner.errors import InputError
from planner.perf.efficiency import Efficiency

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

__all__ = ["Catalog", "Gpu", "Model", "catalog", "suggest"]


def _read(name: str) -> Any:
    text = (resources.files("planner.catalog") / "data" / name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=_Loader)


class Catalog:
    def __init__(self, gpus: dict[str, Gpu], models: dict[str, Model], references: dict[str, str]):
        self.gpus = gpus
        self.models = models
        self.references = references

    def gpu(self, gpu_id: str, where: str = "") -> Gpu:
        try:
            return self.gpus[gpu_id]
        except KeyError:
            raise InputError(
                f"{where + ': ' if where else ''}unknown GPU type '{gpu_id}'{suggest(gpu_id, self.gpus)}"
                " (see `planner catalog gpus`)"
            ) from None

    def model(self, model_id: str, where: str = "") -> Model:
        try:
            return self.models[model_id]
        except KeyError:
            raise InputError(
                f"{where + ': ' if where else ''}unknown model '{model_id}'{suggest(model_id, self.models)}"
                " (see `planner catalog models`)"
            ) from None


def suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    eff_doc = _read("efficiency.yaml")
    families = {
        name: Efficiency(**{k: v for k, v in row.items() if k in Efficiency.names()}, source=row["source"])
        for name, row in eff_doc["fitted"].items()
    }
    for family, row in eff_doc["borrowed"].items():
        base = families[row["from"]]
        families[family] = replace(base, source=f"borrowed from the {row['from']} fit: {row['why']}")

    gdoc = _read("gpus.yaml")
    gpus = {row["id"]: _gpu(row, families) for row in gdoc["gpus"]}
    models = {row["id"]: _model(row) for row in _read("models.yaml")["models"]}
    return Catalog(gpus, models, gdoc.get("references", {}))


def _gpu(row: dict[str, Any], families: dict[str, Efficiency]) -> Gpu:
    t = row["tflops_dense"]
    return Gpu(
        id=row["id"],
        name=row["name"],
        vendor=row["vendor"],
        family=row["family"],
        mem_bytes=float(row["mem_bytes"]),
        mem_bw_tb_s=float(row["mem_bw_tb_s"]),
        tflops={k: (float(t[k]) if t.get(k) is not None else None) for k in ("fp16", "bf16", "fp8", "fp4")},
        bf16=bool(row["bf16"]),
        fp8=str(row["fp8"]),
        scaleup_domain_gpus=int(row["scaleup_domain_gpus"]),
        gpus_per_node=int(row["gpus_per_node"]),
        pcie_gb_s_bidir=float(row["pcie_gb_s_bidir"]) if row.get("pcie_gb_s_bidir") else None,
        network_gbit_s=float(row["network_gbit_s"]),
        network_source=str(row.get("network_source") or ""),
        price_usd_per_hour=row.get("price_usd_per_hour"),
        price_source=row.get("price_source") or "",
        efficiency=families[row["family"]],
        sources=tuple(row.get("sources") or ()),
        verification=str(row.get("verification") or ""),
        notes=str(row.get("notes") or ""),
    )


def _model(row: dict[str, Any]) -> Model:
    moe = row.get("moe")
    return Model(
        id=row["id"],
        layers=int(row["layers"]),
        hidden=int(row["hidden"]),
        heads=int(row["heads"]),
        kv_heads=int(row["kv_heads"]),
        head_dim=int(row["head_dim"]),
        attention=row["attention"],
        attention_dim=int(row["attention_dim"]),
        intermediate=int(row["intermediate"]),
        total_params_b=float(row["total_params_b"]),
        active_params_b=float(row["active_params_b"]),
        native_dtype=row["native_dtype"],
        weight_bytes_per_param=float(row["weight_bytes_per_param"]),
        kv_bytes_per_token_bf16=float(row["kv_bytes_per_token_bf16"]),
        max_context_tokens=int(row["max_context_tokens"]),
        moe=Moe(int(moe["experts"]), int(moe["experts_per_token"]), int(moe.get("shared_experts") or 0)) if moe else None,
        source=row.get("source", ""),
        notes=row.get("notes") or "",
    )
