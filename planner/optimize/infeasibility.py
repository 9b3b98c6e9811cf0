"""Why there is no plan, in numbers: what does not fit, which SLO no configuration reaches (and
the best it can reach), how far the fleet falls short of a QPS target, the nearest feasible plan,
whether the network binds, and how many more GPUs of which type would close the gap.
"""

from __future__ import annotations

from planner.errors import InfeasibleError
from planner.optimize.budget import Deadline
from planner.optimize.milp import nic_capacity_gb_s
from planner.optimize.solve import DEMAND_REL_TOL, Solution, solve
from planner.perf.capacity import CapacityTable, Config
from planner.problem import Problem

# the search for "how many more GPUs" stops here: the schema allows 100,000 per type
MAX_EXTRA_GPUS = 100_000
# a KV transfer taking this share of the TTFT budget or more is named as what keeps prefill and
# decode together (the queue and the prefill itself need the rest)
SLOW_TRANSFER_SHARE_OF_TTFT = 0.5


def check_servable(problem: Problem, table: CapacityTable) -> None:
    """Fail early, with the reason, when some model or class cannot be served at all."""
    usable = table.usable(problem)
    for served in problem.served:
        configs = [c for c in usable if c.served == served.name]
        if not configs:
            raise InfeasibleError(
                f"{served.model.id} cannot be served by this fleet: {_why_nothing_fits(problem, table, served)}"
            )
        for k in (k for k in problem.classes if k.served == served.name):
            for phase, roles in (("prefill", ("prefill", "colocated")), ("decode", ("decode", "colocated"))):
                if any(c.role in roles and c.caps[k.name].rate_per_s > 0 for c in configs):
                    continue
                # the phase's own role first: its reason is the direct one
                why = sorted(
                    {(c.role != phase, c.caps[k.name].reason) for c in configs if c.role in roles and c.caps[k.name].reason}
                )
                raise InfeasibleError(
                    f"request class '{k.name}' ({k.prompt_tokens:g} prompt / {k.output_tokens:g} output tokens): no "
                    f"configuration meets the SLO for its {phase}: {why[0][1] if why else 'none fits'}"
                    f"{best_reachable(configs, k, phase)}"
                )


def _why_nothing_fits(problem: Problem, table: CapacityTable, served) -> str:
    reasons = []
    for e in problem.entries:
        label = f"{served.name} on {e.gpu.id}" if problem.multi else e.gpu.id
        if label in table.excluded:
            reasons.append(table.excluded[label])
            continue
        smallest = min((c.tp for c in table.for_gpu(e.gpu.id, served.name)), default=None)
        if smallest is not None and smallest > e.max_count:
            reasons.append(f"{e.gpu.id} needs TP{smallest} ({smallest} GPUs) to fit the model; the fleet has {e.max_count}")
    return "; ".join(reasons) or "no GPU type can run the model"


def best_reachable(configs: list[Config], k, phase: str) -> str:
    """The best latency any configuration reaches, so the user knows which SLO is possible."""
    if phase == "prefill":
        values = [
            c.deployment.prefill_ms(k.prompt_tokens, 1) + c.caps[k.name].transfer_ms
            for c in configs
            if c.role == "prefill"
        ]
        what = "TTFT (prefill + KV transfer, no queueing)"
    else:
        values = [
            float(c.deployment.decode_step_ms(1, k.prompt_tokens + k.output_tokens / 2))
            for c in configs
            if c.role == "decode"
        ]
        what = "TPOT (batch 1)"
    return f"; best reachable {what}: {min(values):.1f} ms" if values else ""


def explain_shortfall(problem: Problem, table: CapacityTable, solver: str, deadline: Deadline | float | None = None) -> str:
    """The fleet cannot reach the QPS target: by how much, the nearest plan, and what would do.

    Its re-solves are capped at the target (so unlimited purchases stay bounded) and share the
    command's deadline; past it, the search for more GPUs is left out and the text says so."""
    deadline = deadline if isinstance(deadline, Deadline) else Deadline(deadline)
    target = problem.qps_target or 0.0
    try:
        best = solve(problem, table, "max-throughput", solver, deadline=deadline, rate_cap=target)
    except InfeasibleError:
        return "no plan serves any traffic within the SLOs"
    parts = [
        f"the fleet serves at most {best.rate_per_s:.4g} req/s within the SLOs, {best.rate_per_s / target:.1%} of "
        f"the {target:g} req/s target",
        f"nearest feasible plan: {_pools_summary(best)}",
    ]
    saturated = [
        name.split(":", 1)[1]
        for name, slack in best.slacks.items()
        if name.startswith(("kv-egress", "kv-ingress")) and slack <= 1e-6 and nic_capacity_gb_s(best.milp.constraints[name]) > 1e-9
    ]
    if saturated:
        parts.append(f"KV-cache transfers saturate the NICs of {', '.join(sorted(set(saturated)))}")
    full = [name.split(":", 1)[1] for name, slack in best.slacks.items() if name.startswith("link:") and slack <= 1e-6]
    if full:
        parts.append(f"KV-cache transfers fill the link {', '.join(sorted(full))}")
    slow = _slow_transfers(problem, table)
    if slow:
        parts.append(slow)
    more = []
    for e in problem.entries:
        if deadline.expired():
            parts.append("the search for more GPUs stopped at the time limit")
            break
        k = _more_gpus_needed(problem, table, e.gpu.id, target, solver, deadline)
        if k is not None:
            more.append(f"+{k} {e.gpu.id}")
    if more:
        parts.append("enough with " + " or ".join(more) + " (one type at a time)")
    elif not deadline.expired():
        parts.append("no number of extra GPUs of a single type reaches the target")
    return "; ".join(parts)


def _slow_transfers(problem: Problem, table: CapacityTable) -> str:
    """KV transfers that eat most of the TTFT budget keep prefill and decode together."""
    worst: dict[str, tuple[float, str]] = {}
    budget = None
    for c in table.usable(problem):
        slo = problem.served_by_name(c.served).slo
        if c.role != "prefill" or slo is None or slo.ttft_ms is None:
            continue
        budget = slo.ttft_ms
        for k in (k for k in problem.classes if k.served == c.served):
            share = c.caps[k.name].transfer_ms / slo.ttft_ms
            if share > worst.get(c.gpu_id, (0.0, ""))[0]:
                worst[c.gpu_id] = (share, f"{c.caps[k.name].transfer_ms:.0f} ms for '{k.name}' at TP{c.tp}")
    slow = [f"{g} ({what})" for g, (share, what) in worst.items() if share >= SLOW_TRANSFER_SHARE_OF_TTFT]
    if not slow:
        return ""
    return (
        f"moving the KV cache takes half the {budget:g} ms TTFT budget or more on "
        f"{', '.join(slow)}: the network keeps prefill and decode together"
    )


def _pools_summary(sol: Solution) -> str:
    return ", ".join(f"{n}x {key.replace(':tp', ' TP').replace(':', ' ')}" for key, n in sorted(sol.instances.items()))


def _more_gpus_needed(
    problem: Problem, table: CapacityTable, gpu_id: str, target: float, solver: str, deadline: Deadline
) -> int | None:
    """Smallest k such that k more GPUs of this type reach the target (exponential, then
    binary search over max-throughput re-solves); None when no k up to the schema's limit does."""
    base = problem.entry(gpu_id).count

    def rate(k: int) -> float:
        if deadline.expired():
            raise TimeoutError
        try:
            p = problem.with_count(gpu_id, base + k)
            return solve(p, table, "max-throughput", solver, tie_break=False, deadline=deadline, rate_cap=target).rate_per_s
        except InfeasibleError:
            return 0.0

    try:
        return _search(rate, target)
    except TimeoutError:
        return None


def _search(rate, target: float) -> int | None:
    goal = target * (1 - DEMAND_REL_TOL)
    lo, hi, last = 0, 1, rate(0)
    while (r := rate(hi)) < goal:
        if r <= last * (1 + 1e-9) and hi >= 64:  # more of this type no longer helps
            return None
        last, lo, hi = r, hi, hi * 2
        if hi > MAX_EXTRA_GPUS:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if rate(mid) >= goal:
            hi = mid
        else:
            lo = mid
    return hi
