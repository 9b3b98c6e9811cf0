"""Scenarios file for `planner compare`: a base fleet and overlays of changes.

Example (`scenarios/h100-a100-purchases.yaml`)::

    base: ../fleets/h100-a100.yaml   # relative to this file
    scenarios:
      - name: as is                  # no changes: the base fleet
      - name: buy 8 H100
        add: {h100-sxm: 8}           # more owned GPUs of a type in the fleet
      - name: rent L40S
        gpus:                        # new GPU types: entries as in a fleet file
          - {type: l40s, count: 0, buy: {max: 32, price_usd_per_hour: 1.86}}
      - name: cheaper A100, fewer of them
        remove: {a100-80-sxm: 8}
        price: {a100-80-sxm: 1.20}   # USD per GPU-hour of the owned GPUs
      - name: buy H100 as needed
        buy: {h100-sxm: {max: 32, purchase_usd: 25000, amortisation_years: 4, power_kw: 1.0, usd_per_kwh: 0.1}}
      - name: slower link
        links: [{between: [hall-a, hall-b], gbit_s: 100}]   # replaces that pair's link

Each scenario applies its changes in the order add, remove, price, buy, gpus, links to a copy
of the base fleet; the result is validated as a fleet file would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from planner.errors import InputError
from planner.specs.base import (
    PriceUsdPerHour,
    Strict,
    describe_validation_error,
    validate_document,
)
from planner.specs.fleet import FleetGpu, FleetSpec, Link, Purchase
from planner.specs.yamlio import Located, read_yaml

Count = Annotated[int, Field(ge=1, le=100_000)]


class Scenario(Strict):
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    add: dict[str, Count] = Field(default_factory=dict)
    remove: dict[str, Count] = Field(default_factory=dict)
    price: dict[str, PriceUsdPerHour] = Field(default_factory=dict)
    buy: dict[str, Purchase] = Field(default_factory=dict)
    gpus: list[FleetGpu] = Field(default=[], max_length=256)
    links: list[Link] = Field(default=[], max_length=2016)


class ScenariosSpec(Strict):
    name: str | None = Field(default=None, max_length=128)
    description: str | None = None
    base: str = Field(min_length=1, max_length=4096)
    scenarios: list[Scenario] = Field(min_length=1, max_length=64)


def load_scenarios(path: str | Path) -> tuple[ScenariosSpec, Located]:
    doc = read_yaml(path)
    spec = validate_document(ScenariosSpec, doc, "scenarios")
    names = [s.name for s in spec.scenarios]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise InputError(f"{doc.where(('scenarios', i, 'name'))}: scenarios[{i}].name: '{n}' is used twice")
    return spec, doc


def apply_scenario(base: FleetSpec, s: Scenario, i: int, doc: Located, base_dir: Path | None = None) -> FleetSpec:
    """The base fleet with scenario i's changes; errors name the scenarios file's position.

    The changed fleet has no file of its own: efficiency profiles named in it become absolute
    paths (the base fleet's relative to its folder, new GPU types' to the scenarios file's)."""
    data = base.model_dump(mode="python", exclude_none=True)
    gpus = data["gpus"]
    for g in gpus:
        _absolute_profile(g, base_dir)
    index = {g["type"]: g for g in gpus}

    def where(*path) -> str:
        return f"{doc.where(('scenarios', i) + path)}: scenarios[{i}].{'.'.join(map(str, path))}"

    def entry(field: str, gpu: str) -> dict:
        if gpu not in index:
            raise InputError(
                f"{where(field, gpu)}: GPU type '{gpu}' is not in the base fleet (types: {', '.join(index)}); "
                "add a new type under 'gpus'"
            )
        return index[gpu]

    for gpu, n in s.add.items():
        entry("add", gpu)["count"] += n
    for gpu, n in s.remove.items():
        g = entry("remove", gpu)
        if n > g["count"]:
            raise InputError(f"{where('remove', gpu)}: removes {n} of {g['count']} {gpu} GPUs")
        g["count"] -= n
    for gpu, price in s.price.items():
        entry("price", gpu)["price_usd_per_hour"] = price
    for gpu, purchase in s.buy.items():
        entry("buy", gpu)["buy"] = purchase.model_dump(mode="python", exclude_none=True)
    for j, g in enumerate(s.gpus):
        if g.type in index:
            raise InputError(f"{where('gpus', j, 'type')}: '{g.type}' is already in the base fleet; use add/price/buy")
        new = g.model_dump(mode="python", exclude_none=True)
        _absolute_profile(new, Path(doc.source).parent)
        gpus.append(new)
        index[g.type] = new
    links = data.get("links", [])
    for link in s.links:
        pair = set(link.between)
        links = [x for x in links if set(x["between"]) != pair] + [link.model_dump(mode="python")]
    data["links"] = links
    data["name"] = f"{base.name or 'fleet'} [{s.name}]"
    try:
        return FleetSpec.model_validate(data)
    except ValidationError as e:
        text = describe_validation_error(e, Located("", data, {})).removeprefix(":1:1: ")
        raise InputError(f"{where()}: the changed fleet is invalid: {text}") from None


def _absolute_profile(gpu: dict, folder: Path | None) -> None:
    p = gpu.get("efficiency_profile")
    if p is not None and folder is not None and not Path(p).is_absolute():
        gpu["efficiency_profile"] = str(folder / p)


def base_path(spec: ScenariosSpec, doc: Located, scenarios_path: str | Path) -> Path:
    p = Path(spec.base)
    return p if p.is_absolute() else Path(scenarios_path).parent / p
