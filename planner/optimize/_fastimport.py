"""Defer `orloge` until something uses it, to keep the CLI well under a second.

PuLP 4 imports `orloge` at start-up to parse solver log files (CBC, CPLEX, Gurobi logs given
through `logPath`); orloge in turn builds a CP-SAT log schema with pydantic, about 0.3 s of the
CLI's start-up. planner never hands PuLP a log file, so the import is deferred: a placeholder
module stands in `sys.modules` and loads the real orloge on first attribute access.
"""

from __future__ import annotations

import importlib
import sys
import types


class _DeferredModule(types.ModuleType):
    def __getattr__(self, name: str):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, name)


if "orloge" not in sys.modules and "pulp" not in sys.modules:
    sys.modules["orloge"] = _DeferredModule("orloge")
