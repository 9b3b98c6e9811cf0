"""Typed, strict input schemas (fleet, workload) and their loaders."""

from __future__ import annotations

from pathlib import Path

from planner.specs.base import validate_document
from planner.specs.fleet import FleetGpu, FleetSpec
from planner.specs.workload import ModelArchitecture, RequestClass, Slo, WorkloadSpec
from planner.specs.yamlio import Located, read_yaml

__all__ = [
    "FleetGpu",
    "FleetSpec",
    "Located",
    "ModelArchitecture",
    "RequestClass",
    "Slo",
    "WorkloadSpec",
    "load_fleet",
    "load_workload",
]


def load_fleet(path: str | Path) -> tuple[FleetSpec, Located]:
    doc = read_yaml(path)
    return validate_document(FleetSpec, doc, "fleet"), doc


def load_workload(path: str | Path) -> tuple[WorkloadSpec, Located]:
    doc = read_yaml(path)
    return validate_document(WorkloadSpec, doc, "workload"), doc
