"""Fleet inventory: which GPU types, how many, at what price, in what nodes.

Example (`fleets/h100-a100.yaml`)::

    name: h100-a100
    gpus:
      - type: h100-sxm             # catalog id (`planner catalog gpus`)
        count: 16                  # owned GPUs
        price_usd_per_hour: 2.95   # optional; default: the catalog's dated price
        gpus_per_node: 8           # optional; default: the catalog's typical node
        network_gbit_s: 400        # optional; per-GPU NIC for KV-cache transfer
        overrides:                 # optional: replace catalog facts or efficiency parameters
          mem_bw_tb_s: 3.35
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from planner.specs.base import PriceUsdPerHour, Strict, at, bounded


class EfficiencyOverride(Strict):
    """Performance-model efficiency parameters (see `planner.perf.efficiency`)."""

    mfu: bounded(0.001, 1, "(a share of peak FLOP/s)") | None = None
    mbu: bounded(0.001, 1, "(a share of peak bandwidth)") | None = None
    allreduce_gb_s: bounded(0.01, 1e5, "GB/s") | None = None
    allreduce_latency_us: bounded(0, 1e5, "us") | None = None
    prefill_overhead_us_per_layer: bounded(0, 1e5, "us") | None = None
    decode_overhead_us_per_layer: bounded(0, 1e5, "us") | None = None
    decode_us_per_seq_layer: bounded(0, 1e4, "us") | None = None


Tflops = bounded(0.01, 1e6, "TFLOP/s")


class TflopsOverride(Strict):
    fp16: Tflops | None = None
    bf16: Tflops | None = None
    fp8: Tflops | None = None
    fp4: Tflops | None = None


class GpuOverrides(Strict):
    """Catalog facts a user may replace for their own hardware."""

    mem_bytes: bounded(1e8, 1e14, "bytes") | None = None
    mem_bw_tb_s: bounded(0.01, 1000, "TB/s") | None = None
    tflops_dense: TflopsOverride | None = None
    scaleup_domain_gpus: Annotated[int, Field(ge=1, le=1024)] | None = None
    efficiency: EfficiencyOverride | None = None


class FleetGpu(Strict):
    type: str = Field(min_length=1, max_length=64)
    count: Annotated[int, Field(ge=0, le=100_000)]
    price_usd_per_hour: PriceUsdPerHour | None = None
    gpus_per_node: Annotated[int, Field(ge=1, le=1024)] | None = None
    network_gbit_s: bounded(0.1, 1e5, "Gb/s") | None = None
    zone: str | None = Field(default=None, min_length=1, max_length=64)  # default: the first zone
    kv_dtype: Literal["fp16", "bf16", "fp8"] | None = None  # default: the workload's kv_dtype
    overrides: GpuOverrides | None = None

    @field_validator("count", mode="before")
    @classmethod
    def _count_is_integer(cls, v: object) -> object:
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError("must be a whole number of GPUs")
        return v


class Zone(Strict):
    """A network fabric: GPUs in one zone exchange KV caches at their NICs' speed."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")


class Link(Strict):
    """A link between two zones, with its bandwidth in each direction."""

    between: list[str] = Field(min_length=2, max_length=2)
    gbit_s: bounded(0.01, 1e7, "Gb/s")


class FleetSpec(Strict):
    name: str | None = Field(default=None, max_length=128)
    description: str | None = None
    zones: list[Zone] = Field(default=[Zone(name="default")], min_length=1, max_length=64)
    links: list[Link] = Field(default=[], max_length=2016)
    gpus: list[FleetGpu] = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _unique_types(self) -> "FleetSpec":
        seen: dict[str, int] = {}
        for i, g in enumerate(self.gpus):
            if g.type in seen:
                raise ValueError(
                    at(
                        ("gpus", i, "type"),
                        f"GPU type '{g.type}' is listed twice (also gpus[{seen[g.type]}]); give one entry per "
                        "type with its total count",
                    )
                )
            seen[g.type] = i
        if sum(g.count for g in self.gpus) == 0:
            raise ValueError(at(("gpus",), "the fleet has no GPUs (every count is 0)"))
        zones = [z.name for z in self.zones]
        for i, z in enumerate(zones):
            if z in zones[:i]:
                raise ValueError(at(("zones", i, "name"), f"zone '{z}' is listed twice"))
        for i, g in enumerate(self.gpus):
            if g.zone is not None and g.zone not in zones:
                raise ValueError(at(("gpus", i, "zone"), f"unknown zone '{g.zone}' (zones: {', '.join(zones)})"))
        pairs: set[frozenset[str]] = set()
        for i, link in enumerate(self.links):
            a, b = link.between
            for z in (a, b):
                if z not in zones:
                    raise ValueError(at(("links", i, "between"), f"unknown zone '{z}' (zones: {', '.join(zones)})"))
            if a == b:
                raise ValueError(at(("links", i, "between"), "a link joins two different zones"))
            if frozenset((a, b)) in pairs:
                raise ValueError(at(("links", i, "between"), f"zones {a} and {b} are linked twice"))
            pairs.add(frozenset((a, b)))
        return self

    def zone_of(self, gpu: FleetGpu) -> str:
        return gpu.zone or self.zones[0].name
