"""Decisions built on plans: scenario comparison, sweeps, and CI gates (requirements, diffs)."""
