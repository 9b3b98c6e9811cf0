"""`planner model`: the performance model's grid for one GPU type, model and TP degree."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from planner.perf.grid import Cell, ModelGrid
from planner.report.fmt import plain_table

_MARK = {"weights": "no fit", "kv-cache": "kv", "max-context": "ctx"}


def _cell(c: Cell) -> str:
    value = f"{c.time_ms:,.1f}" if c.time_ms < 1000 else f"{c.time_ms:,.0f}"
    return value if c.fits else f"[red]{value} {_MARK[c.limit]}[/red]"


def _times_table(title: str, grid: ModelGrid, rows: list[list[Cell]], lengths: list[int], what: str) -> Table:
    t = plain_table(title)
    t.add_column("batch", justify="right")
    for n in lengths:
        t.add_column(f"{what} {n:,}", justify="right")
    for b, row in zip(grid.batches, rows):
        t.add_row(str(b), *(_cell(c) for c in row))
    return t


def render_model_grid(grid: ModelGrid, console: Console) -> None:
    d, m = grid.deployment, grid.memory
    console.print(
        f"{d.model.id} on {d.gpu.id} TP{d.tp} ({d.weight_dtype} weights, {d.kv_dtype} KV, {d.compute_dtype} math)"
    )
    mem = plain_table("Memory per GPU", show_header=False)
    mem.add_column("", style="bold")
    mem.add_column("", justify="right")
    mem.add_row("usable", f"{m.usable_bytes_per_gpu / 1e9:,.2f} GB")
    mem.add_row("weights", f"{m.weight_bytes_per_gpu / 1e9:,.2f} GB")
    mem.add_row("activation workspace", f"{m.workspace_bytes_per_gpu / 1e9:,.2f} GB")
    budget = f"{m.kv_budget_bytes_per_gpu / 1e9:,.2f} GB" if m.kv_budget_bytes_per_gpu > 0 else "[red]none: the weights do not fit[/red]"
    mem.add_row("KV budget", budget)
    mem.add_row("KV per token", f"{m.kv_bytes_per_token_per_gpu:,.0f} B")
    mem.add_row("tokens in cache", f"{m.max_tokens_in_cache:,}")
    for ctx, b in m.max_batch_by_context.items():
        mem.add_row(f"max batch at {ctx:,} tokens", f"{b:,}" + (f" (engine runs ≤ {m.max_num_seqs})" if b > m.max_num_seqs else ""))
    console.print(mem)
    console.print(_times_table("Prefill pass, ms (batch x prompt tokens)", grid, grid.prefill, grid.prompt_lengths, "prompt"))
    console.print(_times_table("Decode step, ms (batch x mean context tokens)", grid, grid.decode, grid.context_lengths, "context"))
    limits = {c.limit for rows in (grid.prefill, grid.decode) for row in rows for c in row if c.limit}
    legend = {
        "kv-cache": "kv: batch x tokens exceed the KV cache",
        "max-context": "ctx: beyond the model's context window",
        "weights": "no fit: the weights alone exceed the memory",
    }
    if limits:
        console.print("[red]marked[/red] cells do not fit: " + "; ".join(legend[k] for k in sorted(limits)))
    console.print(f"efficiency: {d.eff.source}")
