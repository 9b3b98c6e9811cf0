"""Size caps and atomic output."""

from __future__ import annotations

import os

import pytest

from conftest import write
from planner.errors import InputError
from planner.report.export import write_atomic
from planner.specs import load_fleet
from planner.specs.yamlio import MAX_YAML_BYTES


def test_oversized_input_file_is_refused_before_reading(tmp_path):
    p = tmp_path / "fleet.yaml"
    with open(p, "wb") as f:
        f.truncate(MAX_YAML_BYTES + 1)  # sparse: no need to write the bytes
    with pytest.raises(InputError, match=rf"is {MAX_YAML_BYTES + 1} bytes; YAML input files are limited to {MAX_YAML_BYTES}"):
        load_fleet(p)


def test_too_many_gpu_types_is_refused(tmp_path):
    entries = "".join(f"  - {{type: h100-sxm, count: 1, price_usd_per_hour: {i + 1}}}\n" for i in range(257))
    with pytest.raises(InputError, match=r"gpus: List should have at most 256 items"):
        load_fleet(write(tmp_path, "fleet.yaml", "gpus:\n" + entries))


def test_interrupted_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "plan.json"
    target.write_text('{"old": true}\n')

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, '{"new": true}\n' * 1000)
    assert target.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_write_replaces_the_file(tmp_path):
    target = tmp_path / "plan.json"
    write_atomic(target, "a\n")
    write_atomic(target, "b\n")
    assert target.read_text() == "b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]
