"""Engine launch arguments from the sourced data files (planner/catalog/data/deploy/<engine>.yaml).

Each file lists, per engine version range, which argument carries which planner setting and
where the engine defines it. Code here only looks names up; it knows no flag of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from planner.deploy.layout import BASE_PORT, PoolLaunch, Replica
from planner.errors import InputError

# the plan's engine ids and the engine whose data file describes them
ENGINE_FAMILY = {"vllm": "vllm", "vllm-2023": "vllm", "sglang": "sglang", "trtllm": "trtllm"}


@cache
def data(name: str) -> dict[str, Any]:
    text = (resources.files("planner.catalog") / "data" / "deploy" / f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def version_entry(engine: str, pool: PoolLaunch) -> tuple[dict[str, Any], str | None]:
    """The data for the plan's engine version when the plan planned this engine, else the newest
    range in the file, with a warning that the plan's capacities describe another engine."""
    doc = data(engine)
    entries = doc["versions"]
    if ENGINE_FAMILY.get(pool.engine) == engine:
        for e in entries:
            if pool.engine_versions.startswith(e["versions"]):
                return e, None
    warn = None
    if ENGINE_FAMILY.get(pool.engine) != engine:
        warn = (
            f"{pool.id}: the plan's capacities were predicted for {pool.engine} {pool.engine_versions}; "
            f"these files launch {engine} {entries[0]['versions']} (re-plan with --engine {engine} for its numbers)"
        )
    return entries[0], warn


@dataclass
class Launch:
    """One replica's command line, its environment, and files it reads (relative path -> text)."""

    command: list[str]
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    version: str = ""


def _dtype(spec: dict[str, Any], dtype: str, what: str) -> str:
    values = spec.get("values", {})
    if dtype not in values:
        raise InputError(f"plan: inputs.{what}: '{dtype}' has no value for {spec.get('flag') or spec.get('key')}")
    return values[dtype]


def _flag(args: list[str], spec: dict[str, Any] | None, value: Any) -> None:
    if spec is None or value is None:
        return
    if spec.get("switch"):
        if value:
            args.append(spec["flag"])
        return
    args += [spec["flag"], str(value)]


def engine_launch(engine: str, pool: PoolLaunch, rep: Replica, same_engine: bool, kv_backend: str | None = None) -> Launch:
    """The engine's own launch for one replica of a pool (`vllm serve`, `sglang.launch_server`,
    `trtllm-serve`), with the role's KV connector for disaggregated pools."""
    e, _ = version_entry(engine, pool)
    a = e["args"]
    args: list[str] = []
    m = e["model"]
    if m.get("positional"):
        args.append(pool.hf_repo)
    else:
        args += [m["flag"], pool.hf_repo]
    _flag(args, a.get("served_name"), pool.model_name)
    if engine == "trtllm":
        _flag(args, a.get("backend"), a["backend"]["value"])
    _flag(args, a.get("tp"), pool.tp)
    if "dtype" in a:
        _flag(args, a["dtype"], _dtype(a["dtype"], pool.weight_dtype, "weight_dtype"))
    if "kv_dtype" in a:
        _flag(args, a["kv_dtype"], _dtype(a["kv_dtype"], pool.kv_dtype, "kv_dtype"))
    if same_engine:  # the plan's memory fraction is a share of what this engine's flag means
        _flag(args, a.get("memory_fraction"), pool.memory_fraction)
    _flag(args, a.get("max_batch"), pool.max_batch)
    _flag(args, a.get("max_batched_tokens"), pool.max_batched_tokens)
    _flag(args, a.get("max_context"), pool.max_context)
    _flag(args, a.get("port"), rep.port)
    out = Launch(list(e["command"]), args, version=e["versions"])
    disagg = pool.role in ("prefill", "decode")
    if engine == "vllm":
        kv = e.get("kv_transfer")
        if disagg:
            if kv is None:
                raise InputError(f"plan: pools: {pool.id} is a {pool.role} pool but vLLM {e['versions']} has no KV connector")
            name = kv["connectors"][kv_backend or kv["default"]]
            args += [kv["flag"], json.dumps({"kv_connector": name, "kv_role": kv["roles"][pool.role]}, separators=(",", ":"))]
            out.env[kv["env"]["side_channel_port"]] = str(rep.side_channel_port)
    elif engine == "sglang":
        d = e["disaggregation"]
        if disagg:
            args += [d["mode_flag"], d["modes"][pool.role], d["backend_flag"], d["backends"][kv_backend or d["default"]]]
            if pool.role == "prefill":
                args += [d["bootstrap_port_flag"], str(d["bootstrap_port"] + rep.port - BASE_PORT)]
    elif engine == "trtllm":
        o = e["options"]
        opts: dict[str, Any] = {o["dtype"]["key"]: _dtype(o["dtype"], pool.weight_dtype, "weight_dtype")}
        kv_key = o["kv_dtype"]["key"].split(".")
        opts.setdefault(kv_key[0], {})[kv_key[1]] = _dtype(o["kv_dtype"], pool.kv_dtype, "kv_dtype")
        if disagg:
            t = o["transceiver"]
            opts[t["key"]] = {"backend": t["backends"][kv_backend or t["default"]], t["buffer_key"]: pool.max_context}
            opts[o["no_overlap"]["key"]] = o["no_overlap"][pool.role]
        name = f"launch/{pool.id}.options.yaml"
        out.files[name] = yaml.safe_dump(opts, sort_keys=True)
        _flag(args, a["options_file"], name)
    return out
