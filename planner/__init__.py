"""planner: capacity planning for LLM serving on mixed GPU fleets.

The library is a pipeline of pure stages, each a module (or package) of its own:

    specs (typed inputs)  ->  catalog (GPU and model facts)  ->  perf (performance model,
    capacities)  ->  optimize (MILP, named constraint families)  ->  plan (result schema)
    ->  report (terminal) / export (JSON)

`planner.api` strings them together; the CLI (`planner.cli`) only parses arguments, calls the
API and renders.
"""

import os as _os

__version__ = "0.1.0"

# planner uses no pydantic plugins; without this pydantic scans every installed package's entry
# points at the first model definition (about 40 ms of each CLI start)
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
