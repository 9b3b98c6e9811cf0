"""The built-in catalog: GPU and model facts with their sources, and efficiency defaults.

Data files (`planner/catalog/data/`):
    gpus.yaml        GPU facts transcribed from the reference catalog (datasheets; each row
                     keeps `sources` and `verification`), default prices with provider and date,
                     default per-GPU network bandwidth with its reasoning
    models.yaml      model architectures from public config.json files (exact source per row)
    engines.yaml     the serving engines the planner has profiles for, and the default one
    engines/<id>.yaml one engine: its rules (memory, batch, token budget, scheduler; sourced
                     defaults, by GPU memory tier) and its performance-model efficiency parameters
                     per GPU family, fitted on measured data where there is some (with the fit's
                     provenance), otherwise borrowed from another family (each entry says which
                     and why)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from planner.catalog.types import Gpu, Model, Moe
from planner.errors import InputError
from planner.perf.efficiency import Efficiency, EngineRules, ProfileInfo

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

__all__ = ["Catalog", "Gpu", "Model", "catalog", "suggest"]


def _read(name: str) -> Any:
    text = (resources.files("planner.catalog") / "data" / name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=_Loader)


@dataclass(frozen=True)
class EngineProfile:
    """One engine's data file: its rules (raw tiers) and efficiency parameters per family."""

    id: str
    name: str
    versions: str
    rules: dict[str, Any]
    families: dict[str, tuple[Efficiency, ProfileInfo]]
    measured: dict[str, Any]


class Catalog:
    def __init__(
        self,
        gpus: dict[str, Gpu],
        models: dict[str, Model],
        references: dict[str, str],
        engines: dict[str, EngineProfile] | None = None,
        default_engine: str = "vllm-2023",
        default_engine_why: str = "",
    ):
        self.gpus = gpus
        self.models = models
        self.references = references
        self.engines = engines or {}
        self.default_engine = default_engine
        self.default_engine_why = default_engine_why

    def engine_profile(self, engine_id: str | None, where: str = "") -> EngineProfile:
        key = engine_id or self.default_engine
        try:
            return self.engines[key]
        except KeyError:
            raise InputError(
                f"{where + ': ' if where else ''}unknown engine '{key}'{suggest(key, self.engines)}"
                f" (known: {', '.join(sorted(self.engines))})"
            ) from None

    def engine(self, engine_id: str | None, gpu: Gpu | None = None, where: str = "") -> EngineRules:
        """The engine's rules on one GPU type (defaults differ by device memory)."""
        return _rules(self.engine_profile(engine_id, where), gpu)

    def profile(self, engine_id: str | None, family: str, where: str = "") -> tuple[Efficiency, ProfileInfo]:
        ep = self.engine_profile(engine_id, where)
        if family not in ep.families:
            raise InputError(f"{where + ': ' if where else ''}engine '{ep.id}' has no profile for GPU family '{family}'")
        return ep.families[family]

    def gpu_on(self, gpu: Gpu, engine_id: str | None, where: str = "") -> Gpu:
        """The GPU type as served by one engine: that engine's efficiency profile and rules."""
        eff, info = self.profile(engine_id, gpu.family, where)
        return replace(gpu, efficiency=eff, engine=self.engine(engine_id, gpu, where), profile=info)

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


_UNSET = Efficiency(0.5, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, source="unset: resolved per engine")


def suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    index = _read("engines.yaml")
    engines = {e: _engine(_read(f"engines/{e}.yaml")) for e in index["engines"]}
    default = index["default"]
    gdoc = _read("gpus.yaml")
    gpus = {row["id"]: _gpu(row) for row in gdoc["gpus"]}
    models = {row["id"]: _model(row) for row in _read("models.yaml")["models"]}
    cat = Catalog(gpus, models, gdoc.get("references", {}), engines, default, index.get("why", ""))
    cat.gpus = {k: cat.gpu_on(g, default) for k, g in gpus.items()}
    return cat


def _engine(doc: dict[str, Any]) -> EngineProfile:
    families: dict[str, tuple[Efficiency, ProfileInfo]] = {}
    for name, row in (doc.get("fitted") or {}).items():
        eff = Efficiency(**{k: v for k, v in row.items() if k in Efficiency.all_names()}, source=row["source"])
        info = ProfileInfo(
            engine=doc["engine"],
            family=name,
            fitted_family=name,
            borrowed=False,
            rows=int(row.get("rows") or 0),
            source=row["source"],
            error=row.get("error") or {},
            why="",
        )
        families[name] = (eff, info)
    pending = dict(doc.get("borrowed") or {})
    while pending:  # a family may borrow from a borrowed one
        ready = [n for n, row in pending.items() if row["from"] in families]
        if not ready:
            raise ValueError(f"engines/{doc['engine']}.yaml: borrowed families {sorted(pending)} name no fitted family")
        for name in ready:
            row = pending.pop(name)
            base, info = families[row["from"]]
            changes = {k: v for k, v in (row.get("set") or {}).items() if k in Efficiency.all_names()}
            changes |= {k: getattr(base, k) * f for k, f in (row.get("scale") or {}).items() if k in Efficiency.all_names()}
            why = row["why"]
            eff = replace(base, **changes, source=f"borrowed from the {doc['engine']} {row['from']} fit: {why}")
            families[name] = (eff, replace(info, family=name, borrowed=True, why=why, source=eff.source))
    return EngineProfile(doc["engine"], doc["name"], str(doc["versions"]), doc["rules"], families, doc.get("measured") or {})


def _rules(ep: EngineProfile, gpu: Gpu | None) -> EngineRules:
    """The first memory tier the GPU falls in (tiers listed from the largest memory down; a
    tier may name the GPU families it leaves out)."""
    r = ep.rules
    tiers = r["tiers"]
    tier = tiers[-1]
    if gpu is not None:
        gib = gpu.mem_bytes / 2**30
        for t in tiers:
            if gib >= t["min_mem_gib"] and gpu.family not in (t.get("except_families") or ()):
                tier = t
                break
    return EngineRules(
        id=ep.id,
        name=ep.name,
        versions=ep.versions,
        memory_rule=r["memory_rule"],
        memory_fraction=float(tier["memory_fraction"]),
        memory_flag=r["memory_flag"],
        max_num_seqs=int(tier["max_num_seqs"]),
        max_batched_tokens=int(tier["max_batched_tokens"]),
        scheduler=r["scheduler"],
        source=r.get("source", ""),
    )


def _gpu(row: dict[str, Any]) -> Gpu:
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
        efficiency=_UNSET,
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
