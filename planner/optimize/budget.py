"""One wall-clock budget per command (`--time-limit`), shared by every solve it makes.

A `Deadline` is created when planning starts (before the capacity table is built, so the
capacities count); each solver call gets what is left of it, never less than `MIN_SOLVE_S` (a
solver given no time returns no plan at all), and stages that are not needed for an answer
(tie-breaks, explaining re-solves) are skipped once it has passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# the least time a solver call gets, even past the deadline: enough for HiGHS to load the model
# and return the incumbent of its first heuristics on the shipped examples (measured 2-12 ms)
MIN_SOLVE_S = 0.05
# the least a check LP gets (the exact throughput and traffic split over the fixed pools): a plan
# is only reported once checked, so these run past the deadline by up to this; 0.2 s each on the
# 480-GPU scale instance
MIN_CHECK_S = 1.0


@dataclass
class Deadline:
    """`seconds`: the budget (None: unlimited), counted from `start` (time.monotonic())."""

    seconds: float | None = None
    start: float = field(default_factory=time.monotonic)

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def remaining_s(self) -> float | None:
        if self.seconds is None:
            return None
        return self.seconds - (time.monotonic() - self.start)

    def expired(self) -> bool:
        left = self.remaining_s()
        return left is not None and left <= 0

    def solver_limit_s(self, share: float = 1.0, floor_s: float = MIN_SOLVE_S) -> float | None:
        """The time limit for the next solver call: `share` of what is left, at least `floor_s`."""
        left = self.remaining_s()
        if left is None:
            return None
        return max(floor_s, left * share)


UNLIMITED = Deadline(None)


def deadline_of(time_limit_s: float | None, deadline: Deadline | None = None) -> Deadline:
    """The deadline a solve runs under: the one it was given, else a new one of `time_limit_s`."""
    if deadline is not None:
        return deadline
    return Deadline(time_limit_s) if time_limit_s is not None else UNLIMITED
