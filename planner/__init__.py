"""planner: capacity planning for LLM serving on mixed GPU fleets.

The library is a pipeline of pure stages, each a module (or package) of its own:

    specs (typed inputs)  ->  catalog (GPU and model facts)  ->  perf (performance model,
    capacities)  ->  optimize (MILP, named constraint families)  ->  plan (result schema)
    ->  report (terminal) / export (JSON)

`planner.api` strings them together; the CLI (`planner.cli`) only parses arguments, calls the
API and renders.
"""

__version__ = "0.1.0"
