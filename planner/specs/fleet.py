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
        efficiency_profile: h100.profile.yaml   # optional: written by `planner calibrate`
        engine: vllm               # optional: vllm | sglang | trtllm | vllm-2023 (default: vllm),
                                   # or {name: vllm, version: "0.19.0", memory_fraction: 0.95,
                                   #     max_num_seqs: 512, max_batched_tokens: 16384}
        buy:                       # optional (purchase mode): more GPUs that may be bought/rented
          max: 32                  # or: unlimited
          price_usd_per_hour: 3.10 # rental; or purchase_usd + amortisation_years (+ power)
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
    ttft_queue_factor: bounded(0.001, 1e3, "(a factor)") | None = None
    ttft_burst_share: bounded(0, 1, "(a share)") | None = None
    ttft_fixed_ms: bounded(0, 1e5, "ms") | None = None
    moe_mfu_factor: bounded(0.001, 1, "(a share of the dense MFU)") | None = None


class EngineChoice(Strict):
    """The serving engine of a GPU type: its profile, and the launch settings that differ from
    the engine's defaults."""

    name: str = Field(min_length=1, max_length=64)
    version: str | None = Field(default=None, min_length=1, max_length=64)
    memory_fraction: bounded(0.05, 1, "(gpu_memory_utilization / mem_fraction_static / free_gpu_memory_fraction)") | None = None
    max_num_seqs: Annotated[int, Field(ge=1, le=65536)] | None = None
    max_batched_tokens: Annotated[int, Field(ge=64, le=1 << 20)] | None = None


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


HOURS_PER_YEAR = 8766  # 365.25 days


class Purchase(Strict):
    """More GPUs of a type that the plan may buy or rent (purchase mode).

    The price is either a rental `price_usd_per_hour`, or a `purchase_usd` price per GPU
    amortised linearly over `amortisation_years`, plus power: `power_kw` per GPU (its share of
    the server) x `pue` x `usd_per_kwh`."""

    max: Annotated[int, Field(ge=0, le=100_000)] | Literal["unlimited"]
    price_usd_per_hour: PriceUsdPerHour | None = None
    purchase_usd: bounded(1, 1e8, "USD per GPU") | None = None
    amortisation_years: bounded(0.1, 30, "years") | None = None
    power_kw: bounded(0, 20, "kW per GPU") | None = None
    usd_per_kwh: bounded(0, 10, "USD per kWh") | None = None
    pue: bounded(1, 5, "(power usage effectiveness)") = 1.0
    # true: buy (or rent) whole servers of the type's gpus_per_node GPUs; the plan pays for any
    # GPUs of the last node it leaves idle, and its baselines show what buying single GPUs costs
    whole_nodes: bool = False

    @model_validator(mode="after")
    def _one_price(self) -> "Purchase":
        if (self.price_usd_per_hour is None) == (self.purchase_usd is None):
            raise ValueError(at(("price_usd_per_hour",), "give either price_usd_per_hour (rent) or purchase_usd (buy)"))
        if self.purchase_usd is not None and self.amortisation_years is None:
            raise ValueError(at(("amortisation_years",), "purchase_usd needs amortisation_years"))
        if self.price_usd_per_hour is not None and (self.amortisation_years is not None or self.power_kw is not None):
            raise ValueError(
                at(("price_usd_per_hour",), "a rental price_usd_per_hour includes everything: drop amortisation_years/power_kw")
            )
        if (self.power_kw is None) != (self.usd_per_kwh is None):
            raise ValueError(at(("power_kw",), "power_kw and usd_per_kwh go together"))
        return self

    def usd_per_hour(self) -> tuple[float, str]:
        """The price per GPU-hour and how it was derived."""
        if self.price_usd_per_hour is not None:
            return self.price_usd_per_hour, "rental price"
        capital = self.purchase_usd / (self.amortisation_years * HOURS_PER_YEAR)
        text = f"${self.purchase_usd:,.0f} over {self.amortisation_years:g} y = ${capital:.3f}/h"
        if self.power_kw is None:
            return capital, text
        power = self.power_kw * self.pue * self.usd_per_kwh
        pue = f" x PUE {self.pue:g}" if self.pue != 1 else ""
        return capital + power, f"{text} + {self.power_kw:g} kW{pue} x ${self.usd_per_kwh:g}/kWh = ${capital + power:.3f}/h"


class FleetGpu(Strict):
    type: str = Field(min_length=1, max_length=64)
    count: Annotated[int, Field(ge=0, le=100_000)]
    price_usd_per_hour: PriceUsdPerHour | None = None
    gpus_per_node: Annotated[int, Field(ge=1, le=1024)] | None = None
    network_gbit_s: bounded(0.1, 1e5, "Gb/s") | None = None
    zone: str | None = Field(default=None, min_length=1, max_length=64)  # default: the first zone
    kv_dtype: Literal["fp16", "bf16", "fp8"] | None = None  # default: the workload's kv_dtype
    overrides: GpuOverrides | None = None
    buy: Purchase | None = None
    # a profile written by `planner calibrate` (relative to the fleet file): its efficiency
    # parameters replace the catalog's; `overrides.efficiency` still applies on top
    efficiency_profile: str | None = Field(default=None, min_length=1, max_length=4096)
    engine: EngineChoice | None = None

    @field_validator("engine", mode="before")
    @classmethod
    def _engine_name(cls, v: object) -> object:
        return {"name": v} if isinstance(v, str) else v

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
        if sum(g.count for g in self.gpus) == 0 and not any(g.buy and g.buy.max for g in self.gpus):
            raise ValueError(at(("gpus",), "the fleet has no GPUs (every count is 0) and none to buy"))
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
