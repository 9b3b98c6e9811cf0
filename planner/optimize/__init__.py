"""Optimisation: the MILP (`milp`), its solution (`solve`), and explaining re-solves
(`scenarios`)."""

from planner.optimize import _fastimport  # noqa: F401  (must run before pulp is imported)
