from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def legacy_engine():
    """Plan with the `vllm-2023` engine profile as the default, as before engine profiles
    existed. The modules that use it test the optimiser, network, purchase, study and
    calibration logic on figures that were worked out (and checked by hand or by the
    simulator) with those numbers; the engine profiles have their own tests
    (test_engine_profiles.py) and the shipped examples' golden plans use the current default."""
    from planner.catalog import catalog

    cat = catalog()
    saved = cat.default_engine, cat.gpus
    cat.default_engine = "vllm-2023"
    cat.gpus = {k: cat.gpu_on(g, "vllm-2023") for k, g in saved[1].items()}
    try:
        yield
    finally:
        cat.default_engine, cat.gpus = saved


@pytest.fixture(autouse=True)
def _piped_report_width(monkeypatch):
    """Reports are laid out for $COLUMNS when it is set: tests read the piped layout (120 columns)."""
    monkeypatch.delenv("COLUMNS", raising=False)
