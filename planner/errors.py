"""Errors a user can cause, each with its documented exit code.

Exit codes (README, "Exit codes"):
    0  a plan was found (proven optimal, or with its MIP gap reported)
    1  infeasible, or a requirement not met: the message says what does not fit or which SLO
       cannot be met
    2  bad input: file, line, column and field are named
    3  solver failure: the solver is missing or stopped without a usable answer
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INFEASIBLE = 1
EXIT_BAD_INPUT = 2
EXIT_SOLVER = 3


class PlannerError(Exception):
    """Base class: one clear line for the user, and an exit code."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(PlannerError):
    """Bad input: a file, field or argument the user can fix."""

    exit_code = EXIT_BAD_INPUT


class InfeasibleError(PlannerError):
    """No plan meets the demand or the SLOs; the message says why."""

    exit_code = EXIT_INFEASIBLE


class SolverError(PlannerError):
    """The solver is missing or failed."""

    exit_code = EXIT_SOLVER
