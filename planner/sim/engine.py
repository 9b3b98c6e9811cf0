"""A discrete-event simulation that replays a plan: requests arrive, are routed to the plan's
pools, prefilled, handed over the network and decoded, on the planner's own performance model.
The choices mirror the capacity model (`planner/perf/capacity.py`), so that the simulation
tests the planner's queueing and batching approximations, not the performance model itself.

Arrivals
    Poisson (one merged stream) at the plan's requests/s per served model x `load`; a request's
    class is drawn by the class shares within its model, its prompt and output tokens are the
    class's, rounded. With a trace (single-model problems): the trace's own arrival times (divided
    by `load`) and lengths; each request is mapped to a class for routing (`planner.sim.trace`).
Routing
    A request of class k goes to a prefill-capable pool (prefill or colocated) with probability
    proportional to the plan's requests/s of class k on that pool, then to the instance of the
    pool with the fewest outstanding prompt tokens (waiting or in a pass; mixed steps: still to
    prefill; colocated: then the fewest reserved KV tokens; then the lowest index). After a
    disaggregated prefill, the decode pool is drawn the same way (the plan's decode requests/s
    of class k), then its instance with the fewest reserved tokens (running, waiting and in
    transfer). With several zones the decode zone is drawn by the plan's KV flows out of the
    prefill's zone (`kv_flows`), then the pool within the zone by its rate of class k;
    unlinked zones are never chosen.
Prefill instances
    FIFO. When idle, a pass packs waiting prompts up to the engine's `max_batched_tokens` (at least one)
    and takes `prefill_ms(mean prompt of the pass, prompts in the pass)`.
KV transfer
    prompt tokens x the model's KV bytes per token in the sender's KV dtype, over the sending
    instance's NICs (tp x network_gbit_s) and, across zones, the zone link (each direction).
    Between instances of one GPU type the plan pairs them inside nodes: the transfer crosses
    the scale-up fabric at tp x the all-reduce bus bandwidth (`allreduce_gb_s`) instead.
    Bandwidth is shared fairly: each transfer runs at the smallest of capacity / (transfers
    using it) over the resources it crosses, recomputed whenever a transfer starts or ends.
Decode instances
    Continuous batching: at each step boundary waiting requests are admitted (FIFO) while their
    reserved tokens (prompt + output, each) fit in `max_tokens_in_cache()` and fewer than
    `max_num_seqs` (the engine's) run (an instance with nothing running admits its head request regardless, so
    a request longer than its class never waits forever). A step takes
    `decode_step_ms(running, mean context of running)`; every running request gains one token;
    a request leaves after `output_tokens` steps (as the capacity model counts them).
Colocated instances
    The engine's scheduler (`EngineRules.chunked`, as the capacity model):
    prefill-first (vLLM 2023): at each iteration, if prompts wait and the head's KV fits, a
    prefill pass (packed as above, within memory) runs and stalls decoding; otherwise a decode
    step runs. The first decode step after the pass gives the first token.
    mixed steps (chunked prefill: vLLM V1, SGLang; in-flight batching: TensorRT-LLM, split the
    same way, as `_colocated_mixed` counts it): every step carries all running decodes (each
    gains one token) and prompt tokens taken FCFS up to the remaining token budget
    `max_batched_tokens - running`: first the rest of a prompt already in prefill, then
    waiting requests, each admitted (its KV reserved, as for decode) while its reserved tokens
    fit in `max_tokens_in_cache()` and fewer than `max_num_seqs` run or prefill (an instance
    with nothing running or in prefill admits its head regardless). A prompt longer than the
    budget is split over several steps. A step takes `step_ms(running, mean context of
    running, prompt tokens in the step, their token-weighted mean prompt length)`
    (`decode_step_ms` when it carries no prompt tokens); the step with a prompt's last chunk
    gives its first token, and the request decodes in the running batch from the next step
    on, `output_tokens - 1` steps. Prompt chunks sharing a step stretch the decodes' TPOT.

Metrics
    TTFT: what the client sees, from arrival to its first token, every queue included, plus
    the front (prefill or colocated) engine's fixed first-token latency `ttft_fixed_ms` (HTTP,
    tokenisation, scheduling; the capacity model adds it too). Disaggregated: prefill queue +
    prefill + KV transfer + the wait for a decode batch slot, up to the decode instance taking
    the request (the first token is the prefill's; the decode instance streams from there);
    colocated, prefill-first: to the end of the first decode step after the prefill; mixed
    steps: to the end of the step with the prompt's last chunk. TPOT: (last token - first
    token) / (output - 1); with one output token, the one step's time (prefill-first: the
    decode step; mixed: the step with the last chunk). Decode wait: KV arrived -> admitted to
    a batch, part of the TTFT, also shown apart (the planner plans it as nil: its decode
    capacity keeps batches within memory and TPOT at the SLO percentile, so a request waits
    for a slot only when the plan falls short). Only requests arriving after the
    warm-up are measured (default: the larger of 10% of the arrival span and twice the longest
    planned request lifetime, TTFT + output x TPOT, so that decode batches have filled); the
    simulation runs until every request has finished. Throughput counts completions within
    the window [warm-up, last arrival]; utilisation is the busy share of that window.

Determinism: numpy's Generator(seed) draws everything up front; events at the same time are
ordered by a sequence counter (arrivals first).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import deque
from itertools import accumulate

import numpy as np

from planner.errors import InputError
from planner.perf.capacity import CapacityTable, Config, kv_transfer_bytes
from planner.plan import Plan, inputs_digest
from planner.problem import Problem
from planner.sim.result import SimResult
from planner.sim.trace import classify, rounded

DEFAULT_REQUESTS = 20_000
PROGRESS_EVERY = 10_000  # arrivals between progress calls (about 0.3 s of a 100k-request run)
_PASS, _STEP, _NET, _MIX = 0, 1, 2, 3


class _Req:
    __slots__ = (
        "dec",
        "fixed_s",
        "k",
        "left",
        "need",
        "output",
        "prompt",
        "s0",
        "t_arr",
        "t_first",
        "t_last",
        "t_ready",
        "t_ttft",
        "tpot_ms",
        "u_dec",
        "wait_s",
    )

    def __init__(self, k: int, prompt: int, output: int, t_arr: float, u_dec: float):
        self.k, self.prompt, self.output, self.t_arr, self.u_dec = k, prompt, output, t_arr, u_dec
        self.need = prompt + output
        self.left = prompt  # mixed steps: prompt tokens still to prefill
        self.t_ttft = self.t_first = self.t_last = self.t_ready = -1.0
        self.tpot_ms = 0.0
        self.wait_s = 0.0
        self.fixed_s = 0.0  # the front instance engine's fixed first-token latency
        self.s0 = 0
        self.dec = None


class _Inst:
    """One instance of a pool: its queues, its batch and its statistics."""

    __slots__ = (
        "batch",
        "batch_sum",
        "busy",
        "busy_s",
        "cap_tokens",
        "cfg",
        "chunked",
        "ctx_ms",
        "done",
        "fixed_s",
        "fresh",
        "idx",
        "incoming",
        "max_seqs",
        "max_tokens",
        "mix_cache",
        "n_steps",
        "pass_cache",
        "pool",
        "prefilling",
        "q_area",
        "q_last",
        "q_max",
        "queued_tokens",
        "reserved",
        "role",
        "running",
        "step_ms",
        "steps",
        "sum_prompt",
        "sum_s0",
        "t_start",
        "waiting",
    )

    def __init__(self, pool: int, idx: int, cfg: Config):
        d = cfg.deployment
        self.pool, self.idx, self.role, self.cfg = pool, idx, cfg.role, cfg
        self.cap_tokens = d.max_tokens_in_cache()
        self.max_seqs, self.max_tokens = d.max_num_seqs, d.max_batched_tokens  # the engine's
        # decode_step_ms(b, c) is affine in c: step(b, c) = step(b, 0) + b·c·kv_gpu / (B·mbu)
        self.step_ms = [float(x) for x in d.decode_step_ms(np.arange(self.max_seqs + 1), 0.0)]
        self.ctx_ms = d.kv_bytes_per_token_per_gpu / (d.bw_bytes_per_s * d.eff.mbu) * 1e3
        # added to the TTFT of the requests this instance prefills, as the capacity model adds it
        # (HTTP, tokenisation, scheduling: latency, not GPU time)
        self.fixed_s = d.eff.ttft_fixed_ms / 1e3
        self.pass_cache: dict[tuple[int, int], float] = {}
        # colocated on a chunked-prefill / in-flight-batching engine: mixed steps
        self.chunked = cfg.role == "colocated" and d.engine.chunked
        self.mix_cache: dict[tuple[int, int, int], float] = {}
        self.prefilling: deque[_Req] = deque()  # mixed steps: admitted, prompt not yet all prefilled
        self.waiting: deque[_Req] = deque()
        self.queued_tokens = 0  # prompt tokens waiting or in the current pass
        self.reserved = 0  # KV tokens held by running requests and the current pass
        self.incoming = 0  # decode: KV tokens routed here and still in transfer or waiting
        self.busy = False
        self.batch: list = []  # the current prefill pass (mixed steps: (request, prompt tokens) chunks)
        self.running: list[tuple[int, int, _Req]] = []  # heap of (finishing step, seq, request)
        self.steps = 0
        self.sum_prompt = 0
        self.sum_s0 = 0
        self.fresh: list[_Req] = []  # admitted before the current step: first token at its end
        self.t_start = 0.0
        self.busy_s = self.q_area = self.q_last = 0.0
        self.q_max = self.batch_sum = self.n_steps = self.done = 0

    def pass_s(self, tokens: int, n: int) -> float:
        key = (tokens, n)
        v = self.pass_cache.get(key)
        if v is None:
            v = self.pass_cache[key] = self.cfg.deployment.prefill_ms(tokens / n, n) / 1e3
        return v

    def mix_ms(self, n: int, tokens: int, weighted: int) -> float:
        """`step_ms(n, 0, tokens, weighted / tokens)`: a mixed step without its context term
        (step_ms is affine in the context, with the decode step's slope `ctx_ms`)."""
        key = (n, tokens, weighted)
        v = self.mix_cache.get(key)
        if v is None:
            v = self.mix_cache[key] = float(self.cfg.deployment.step_ms(n, 0.0, tokens, weighted / tokens))
        return v


class _Sim:
    def __init__(self, problem: Problem, table: CapacityTable, plan: Plan, load: float, seed: int):
        self.problem, self.plan, self.load = problem, plan, load
        self.rng = np.random.default_rng(seed)
        self.classes = list(problem.classes)
        self.kidx = {k.name: i for i, k in enumerate(self.classes)}
        self.configs = _pool_configs(problem, table, plan)
        self.insts = [[_Inst(p, i, c) for i in range(pool.instances)] for p, (pool, c) in enumerate(zip(plan.pools, self.configs))]
        self.zone = [problem.entry(pool.gpu).zone for pool in plan.pools]
        self._routing()
        self.heap: list = []
        self.seq = 0
        self.now = 0.0
        self.w0 = self.w1 = 0.0
        # network: transfer id -> [remaining bytes, resources, rate B/s, request, total bytes]
        self.xfers: dict[int, list] = {}
        self.net_last = 0.0
        self.net_version = 0
        self.caps_bps: dict = {}

    # --- routing tables -----------------------------------------------------------------
    def _routing(self) -> None:
        """Cumulative weights: class -> prefill-capable pools; (zone, class) -> decode pools."""
        rate = {}
        for p, pool in enumerate(self.plan.pools):
            for c in pool.classes:
                if c.request_class not in self.kidx:
                    raise InputError(f"plan: pools[{p}].classes: class '{c.request_class}' is not a class of this workload")
                rate[p, self.kidx[c.request_class]] = c.requests_per_s
        roles = [pool.role for pool in self.plan.pools]
        self.front = []
        for k in range(len(self.classes)):
            pools = [p for p, r in enumerate(roles) if r in ("prefill", "colocated") and rate.get((p, k), 0) > 0]
            self.front.append((pools, list(accumulate(rate[p, k] for p in pools))))
        flows: dict[tuple[str, str], float] = {}
        for f in self.plan.kv_flows:
            flows[f.from_zone, f.to_zone] = flows.get((f.from_zone, f.to_zone), 0.0) + f.requests_per_s
        self.back: dict[tuple[str, int], tuple[list[int], list[float]]] = {}
        decoders = [p for p, r in enumerate(roles) if r == "decode"]
        for za in set(self.zone):
            reach = [p for p in decoders if self.zone[p] == za or self.problem.link_gbit_s(za, self.zone[p])]
            for k in range(len(self.classes)):
                mine = [p for p in reach if rate.get((p, k), 0) > 0]
                by_zone: dict[str, float] = {}
                for p in mine:
                    by_zone[self.zone[p]] = by_zone.get(self.zone[p], 0.0) + rate[p, k]
                w = [rate[p, k] / by_zone[self.zone[p]] * flows.get((za, self.zone[p]), 0.0) for p in mine]
                if len(by_zone) <= 1 or sum(w) <= 0:
                    w = [rate[p, k] for p in mine]
                self.back[za, k] = (mine, list(accumulate(w)))

    @staticmethod
    def _draw(table: tuple[list[int], list[float]], u: float) -> int:
        pools, cum = table
        i = bisect_right(cum, u * cum[-1])
        return pools[min(i, len(pools) - 1)]

    # --- events ---------------------------------------------------------------------------
    def push(self, t: float, kind: int, obj) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, obj))

    def _window(self, a: float, b: float) -> float:
        return max(0.0, min(b, self.w1) - max(a, self.w0))

    def _queue_changed(self, inst: _Inst, before: int) -> None:
        """Book the queue length `before` up to now (called after the queue changed)."""
        inst.q_area += before * self._window(inst.q_last, self.now)
        inst.q_last = self.now
        n = len(inst.waiting)
        if n > inst.q_max and self.w0 <= self.now <= self.w1:
            inst.q_max = n

    def arrive(self, r: _Req, u_front: float) -> None:
        if not self.front[r.k][0]:
            raise InputError(f"plan: no prefill or colocated pool serves class '{self.classes[r.k].name}'")
        p = self._draw(self.front[r.k], u_front)
        inst = min(self.insts[p], key=lambda i: (i.queued_tokens, i.reserved, i.idx))
        r.fixed_s = inst.fixed_s
        inst.waiting.append(r)
        self._queue_changed(inst, len(inst.waiting) - 1)
        inst.queued_tokens += r.prompt
        if not inst.busy:
            self.next_work(inst)

    def next_work(self, inst: _Inst) -> None:
        """An idle instance picks its next pass or step (or stays idle)."""
        if inst.role == "prefill":
            if inst.waiting:
                self.start_pass(inst, memory=False)
        elif inst.role == "decode":
            self.admit(inst)
            if inst.running:
                self.start_step(inst)
        elif inst.chunked:
            if inst.running or inst.prefilling or inst.waiting:
                self.start_mixed(inst)
        else:
            w = inst.waiting
            if w and (inst.reserved + w[0].need <= inst.cap_tokens or not inst.running) and len(inst.running) < inst.max_seqs:
                self.start_pass(inst, memory=True)
            elif inst.running:
                self.start_step(inst)

    def start_pass(self, inst: _Inst, memory: bool) -> None:
        w, batch, tokens = inst.waiting, [], 0
        before = len(w)
        while w:
            r = w[0]
            if batch and tokens + r.prompt > inst.max_tokens:
                break
            if memory and batch and (inst.reserved + r.need > inst.cap_tokens or len(inst.running) + len(batch) >= inst.max_seqs):
                break
            w.popleft()
            batch.append(r)
            tokens += r.prompt
            if memory:
                inst.reserved += r.need
        self._queue_changed(inst, before)
        inst.batch, inst.busy, inst.t_start = batch, True, self.now
        self.push(self.now + inst.pass_s(tokens, len(batch)), _PASS, inst)

    def pass_done(self, inst: _Inst) -> None:
        inst.busy = False
        inst.busy_s += self._window(inst.t_start, self.now)
        batch, inst.batch = inst.batch, []
        for r in batch:
            inst.queued_tokens -= r.prompt
            if inst.t_start >= self.w0 and self.now <= self.w1:
                inst.done += 1
            if inst.role == "colocated":
                self.join(inst, r)
            else:
                self.hand_over(inst, r)
        self.next_work(inst)

    def join(self, inst: _Inst, r: _Req) -> None:
        """A request enters the running batch (its KV tokens are already reserved)."""
        r.s0 = inst.steps
        heapq.heappush(inst.running, (inst.steps + r.output, id(r), r))
        inst.sum_prompt += r.prompt
        inst.sum_s0 += inst.steps
        inst.fresh.append(r)

    def admit(self, inst: _Inst) -> None:
        w = inst.waiting
        before = len(w)
        while w:
            r = w[0]
            if inst.running and (inst.reserved + r.need > inst.cap_tokens or len(inst.running) >= inst.max_seqs):
                break
            w.popleft()
            inst.reserved += r.need
            inst.incoming -= r.need
            r.wait_s = self.now - r.t_ready
            r.t_ttft = self.now  # the client's first token: the decode instance takes the request
            self.join(inst, r)
        if len(w) != before:
            self._queue_changed(inst, before)

    def start_step(self, inst: _Inst) -> None:
        n = len(inst.running)
        ctx = inst.sum_prompt + n * inst.steps - inst.sum_s0
        inst.busy, inst.t_start = True, self.now
        if self.w0 <= self.now <= self.w1:
            inst.batch_sum += n
            inst.n_steps += 1
        self.push(self.now + (inst.step_ms[min(n, inst.max_seqs)] + inst.ctx_ms * ctx) / 1e3, _STEP, inst)

    def step_done(self, inst: _Inst) -> None:
        now = self.now
        inst.busy = False
        inst.busy_s += self._window(inst.t_start, now)
        inst.steps += 1
        colocated = inst.role == "colocated"
        for r in inst.fresh:
            r.t_first = now
            if colocated:
                r.t_ttft = now
        inst.fresh = []
        run = inst.running
        while run and run[0][0] == inst.steps:
            r = heapq.heappop(run)[2]
            r.t_last = now
            r.tpot_ms = (now - r.t_first) / (r.output - 1) * 1e3 if r.output > 1 else (now - inst.t_start) * 1e3
            inst.reserved -= r.need
            inst.sum_prompt -= r.prompt
            inst.sum_s0 -= r.s0
            if self.w0 <= now <= self.w1:
                inst.done += 1
        self.next_work(inst)

    # --- colocated mixed steps (chunked prefill, in-flight batching) ------------------------
    def start_mixed(self, inst: _Inst) -> None:
        """A step of all running decodes and prompt chunks FCFS within the token budget."""
        n = len(inst.running)
        left = inst.max_tokens - n
        chunks = []
        tokens = weighted = 0
        if left > 0:
            for r in inst.prefilling:  # FCFS: at most the head is part-prefilled
                c = r.left if r.left < left else left
                chunks.append((r, c))
                tokens += c
                weighted += c * r.prompt
                left -= c
                if left <= 0:
                    break
            w = inst.waiting
            if left > 0 and w:
                before = len(w)
                pre = inst.prefilling
                while w and left > 0:
                    r = w[0]
                    if n + len(pre) >= inst.max_seqs or (inst.reserved + r.need > inst.cap_tokens and (n or pre)):
                        break
                    w.popleft()
                    inst.reserved += r.need
                    pre.append(r)
                    c = r.left if r.left < left else left
                    chunks.append((r, c))
                    tokens += c
                    weighted += c * r.prompt
                    left -= c
                if len(w) != before:
                    self._queue_changed(inst, before)
        ctx = inst.sum_prompt + n * inst.steps - inst.sum_s0
        inst.batch, inst.busy, inst.t_start = chunks, True, self.now
        if self.w0 <= self.now <= self.w1:
            inst.batch_sum += n
            inst.n_steps += 1
        ms = inst.mix_ms(n, tokens, weighted) if tokens else inst.step_ms[min(n, inst.max_seqs)]
        self.push(self.now + (ms + inst.ctx_ms * ctx) / 1e3, _MIX, inst)

    def mixed_done(self, inst: _Inst) -> None:
        now = self.now
        inst.busy = False
        inst.busy_s += self._window(inst.t_start, now)
        inst.steps += 1
        steps = inst.steps
        measured = self.w0 <= now <= self.w1
        run = inst.running
        while run and run[0][0] == steps:
            r = heapq.heappop(run)[2]
            r.t_last = now
            r.tpot_ms = (now - r.t_first) / (r.output - 1) * 1e3
            inst.reserved -= r.need
            inst.sum_prompt -= r.prompt
            inst.sum_s0 -= r.s0
            if measured:
                inst.done += 1
        chunks, inst.batch = inst.batch, []
        for r, c in chunks:
            r.left -= c
            inst.queued_tokens -= c
            if r.left:
                continue
            inst.prefilling.popleft()  # FCFS: the finished prompts lead the queue
            r.t_ttft = r.t_first = now  # the last chunk's step gives the first token
            if inst.t_start >= self.w0 and now <= self.w1:
                inst.done += 1
            if r.output <= 1:
                r.t_last = now
                r.tpot_ms = (now - inst.t_start) * 1e3
                inst.reserved -= r.need
                if measured:
                    inst.done += 1
                continue
            # in the batch as if since the step just done (its context: prompt + 1 token next
            # step); it leaves after output - 1 decode steps
            r.s0 = steps - 1
            heapq.heappush(run, (r.s0 + r.output, id(r), r))
            inst.sum_prompt += r.prompt
            inst.sum_s0 += r.s0
        self.next_work(inst)

    # --- disaggregation: choose a decoder, move the KV cache --------------------------------
    def hand_over(self, src: _Inst, r: _Req) -> None:
        table = self.back.get((self.zone[src.pool], r.k))
        if not table or not table[0]:
            raise InputError(f"plan: no decode pool reachable for class '{self.classes[r.k].name}' prefilled on {self.plan.pools[src.pool].gpu}")
        p = self._draw(table, r.u_dec)
        dst = min(self.insts[p], key=lambda i: (i.reserved + i.incoming, i.idx))
        dst.incoming += r.need
        r.dec = dst
        nbytes = kv_transfer_bytes(src.cfg.deployment, r.prompt)
        za, zb = self.zone[src.pool], self.zone[p]
        if self.plan.pools[p].gpu == self.plan.pools[src.pool].gpu:
            # one GPU type: the plan pairs its prefill and decode instances inside nodes, over the
            # scale-up fabric (at the all-reduce bus bandwidth the performance model uses)
            res = [("fabric", src.pool, src.idx)]
            self.caps_bps.setdefault(res[0], src.cfg.tp * src.cfg.deployment.eff.allreduce_gb_s * 1e9)
        else:
            res = [("nic", src.pool, src.idx)]
            self.caps_bps.setdefault(res[0], src.cfg.tp * src.cfg.deployment.gpu.network_gbit_s * 1e9 / 8)
        if za != zb:
            res.append(("link", za, zb))
            self.caps_bps.setdefault(res[1], self.problem.link_gbit_s(za, zb) * 1e9 / 8)
        self._net_advance()
        self.seq += 1
        self.xfers[self.seq] = [nbytes, res, 0.0, r, nbytes]
        self._net_schedule()

    def _net_advance(self) -> None:
        dt = self.now - self.net_last
        if dt > 0:
            for x in self.xfers.values():
                x[0] -= x[2] * dt
        self.net_last = self.now

    def _net_schedule(self) -> None:
        users: dict = {}
        for x in self.xfers.values():
            for res in x[1]:
                users[res] = users.get(res, 0) + 1
        best = None
        for tid, x in self.xfers.items():
            x[2] = min(self.caps_bps[res] / users[res] for res in x[1])
            t = self.now + max(x[0], 0.0) / x[2]
            if best is None or t < best[0]:
                best = (t, tid)
        self.net_version += 1
        if best is not None:
            self.push(best[0], _NET, (self.net_version, best[1]))

    def net_done(self, version: int, tid: int) -> None:
        if version != self.net_version:
            return  # superseded by a later start or finish
        self._net_advance()
        done = [t for t, x in self.xfers.items() if t == tid or x[0] <= 1e-9 * x[4]]
        woken = []
        for t in done:  # deliver every finished transfer first: they may join one batch
            r = self.xfers.pop(t)[3]
            r.t_ready = self.now
            dst = r.dec
            dst.waiting.append(r)
            self._queue_changed(dst, len(dst.waiting) - 1)
            if dst not in woken:
                woken.append(dst)
        for dst in woken:
            if not dst.busy:
                self.next_work(dst)
        self._net_schedule()

    # --- main loop ------------------------------------------------------------------------
    def run(self, reqs: list[_Req], u_front: np.ndarray, progress=None) -> None:
        """`progress(arrived, total)`, if given, is called every PROGRESS_EVERY arrivals and at the end."""
        heap, n, i = self.heap, len(reqs), 0
        pop = heapq.heappop
        while True:
            if i < n and (not heap or reqs[i].t_arr <= heap[0][0]):
                self.now = reqs[i].t_arr
                self.arrive(reqs[i], u_front[i])
                i += 1
                if progress is not None and i % PROGRESS_EVERY == 0:
                    progress(i, n)
                continue
            if not heap:
                break
            t, _, kind, obj = pop(heap)
            self.now = t
            if kind == _STEP:
                self.step_done(obj)
            elif kind == _PASS:
                self.pass_done(obj)
            elif kind == _MIX:
                self.mixed_done(obj)
            else:
                self.net_done(*obj)
        for pool in self.insts:
            for inst in pool:
                self._queue_changed(inst, len(inst.waiting))
        if progress is not None:
            progress(n, n)


def _pool_configs(problem: Problem, table: CapacityTable, plan: Plan) -> list[Config]:
    """The capacity-table configuration of each plan pool."""
    out = []
    owned = {e.gpu.id: e.count for e in problem.entries}
    buy = {e.gpu.id: e.buy_max for e in problem.entries}  # purchase mode: what may be bought or rented
    used: dict[str, int] = {}
    for i, pool in enumerate(plan.pools):
        match = [c for c in table.configs if c.served == pool.model and c.gpu_id == pool.gpu and c.tp == pool.tp and c.role == pool.role]
        if not match:
            raise InputError(
                f"plan: pools[{i}]: no {pool.gpu} TP{pool.tp} {pool.role} configuration of '{pool.model}' on this fleet "
                "and workload; was the plan made from other files?"
            )
        used[pool.gpu] = used.get(pool.gpu, 0) + pool.instances * pool.tp
        out.append(match[0])
    for gpu, n in used.items():
        if n > owned.get(gpu, 0) + buy.get(gpu, 0):
            more = f" and may buy or rent {buy[gpu]} more" if buy.get(gpu) else ""
            raise InputError(f"plan: pools use {n} {gpu} GPUs; the fleet has {owned.get(gpu, 0)}{more}")
    return out


def _lifetime_s(problem: Problem, plan: Plan) -> float:
    """The longest planned request lifetime: TTFT + output tokens x TPOT (planned values)."""
    longest = 0.0
    for k in problem.classes:
        rows = [c for p in plan.pools for c in p.classes if c.request_class == k.name]
        ttft = max((c.predicted_ttft_ms or c.prefill_ms or 0.0) for c in rows) if rows else 0.0
        tpot = max((c.predicted_tpot_ms or c.decode_step_ms or 0.0) for c in rows) if rows else 0.0
        longest = max(longest, (ttft + k.output_tokens * tpot) / 1e3)
    return longest


def _same_inputs(problem: Problem, plan: Plan) -> bool:
    """Whether `problem` is what the plan was made from (its digest), the QPS target aside: a
    plan solved with --qps is replayed at its own rates, which the target does not enter."""
    if inputs_digest(problem) == plan.inputs.digest_sha256:
        return True
    qps = plan.inputs.qps_target
    if qps is None or qps == problem.qps_target or (problem.multi and problem.qps_target is None):
        return False
    # the JSON holds a float; the target was an int when the plan came from the Python API
    tries = (qps, int(qps)) if float(qps).is_integer() else (qps,)
    return any(inputs_digest(problem.with_qps_target(q)) == plan.inputs.digest_sha256 for q in tries)


def _other_inputs_note(fleet_rebuilt: bool) -> str:
    if fleet_rebuilt:
        return (
            "the plan's digest_sha256 differs from these workload files with the fleet rebuilt from the plan: "
            "the workload changed, or the fleet file set what the plan does not record (node sizes, NICs, zones, "
            "efficiency, unrounded purchase prices); give --fleet to check; the pools are replayed as planned"
        )
    return (
        "the plan was made from other inputs than these (its digest_sha256 differs): fleet, prices, "
        "workload or engine changed; the pools are replayed as planned"
    )


def simulate(
    problem: Problem,
    table: CapacityTable,
    plan: Plan,
    *,
    load: float = 1.0,
    duration_s: float | None = None,
    n_requests: int | None = None,
    seed: int = 0,
    trace: list[tuple[float, int, int]] | None = None,
    warmup_s: float | None = None,
    fleet_rebuilt: bool = False,
    progress=None,
) -> SimResult:
    """Replay `plan` on `problem` (see the module docstring for the model).

    `duration_s` or `n_requests` bound the arrivals (default: 20,000 requests, or the whole
    trace, and at least 10 planned request lifetimes); `trace` is a list of (arrival s, prompt
    tokens, output tokens); `load` scales the arrival rate; `fleet_rebuilt`: the fleet was
    rebuilt from the plan (no fleet file), which a digest mismatch's note says; `progress(arrived,
    total)`: called as the run goes (it never changes the result)."""
    from planner.sim.metrics import summarise

    if not (math.isfinite(load) and 0.01 <= load <= 100):
        raise InputError(f"--load must be between 0.01 and 100 (got {load})")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"--duration must be a positive number of seconds (got {duration_s})")
    if n_requests is not None and n_requests < 1:
        raise InputError(f"the number of requests must be at least 1 (got {n_requests})")
    if warmup_s is not None and not (math.isfinite(warmup_s) and warmup_s >= 0):
        raise InputError(f"the warm-up must be 0 s or more (got {warmup_s})")
    sim = _Sim(problem, table, plan, load, seed)
    rng = sim.rng
    life_s = _lifetime_s(problem, plan)
    rates = {m.name: m.requests_per_s * load for m in plan.models}
    total_rate = sum(rates.values())
    if total_rate <= 0:
        raise InputError("plan: it serves no requests (throughput 0); nothing to simulate")
    if trace is not None:
        if problem.multi:
            raise InputError("--trace replays one model's requests; this problem serves several models")
        if not trace:
            raise InputError("the trace has no requests")
        t = np.array([row[0] for row in trace], dtype=float)
        order = np.argsort(t, kind="stable")
        t = (t[order] - t[order[0]]) / load
        prompts = np.array([trace[j][1] for j in order], dtype=float)
        outputs = np.array([trace[j][2] for j in order], dtype=float)
        keep = np.ones(len(t), dtype=bool)
        if duration_s is not None:
            keep &= t <= duration_s
        if n_requests is not None:
            keep &= np.arange(len(t)) < n_requests
        t, prompts, outputs = t[keep], prompts[keep], outputs[keep]
        ks = classify(sim.classes, prompts, outputs)
        lengths = [(rounded(p), rounded(o)) for p, o in zip(prompts, outputs)]
    else:
        if n_requests is None:
            span = duration_s if duration_s is not None else max(DEFAULT_REQUESTS / total_rate, 10 * life_s)
            n = int(total_rate * span * 1.1 + 10 * math.sqrt(total_rate * span) + 10)
        else:
            n = n_requests
        t = np.cumsum(rng.exponential(1.0 / total_rate, size=n))
        if n_requests is None:
            t = t[t <= span]
        cls_rate = np.array([rates[k.served] * k.share / sum(c.share for c in sim.classes if c.served == k.served) for k in sim.classes])
        ks = rng.choice(len(sim.classes), size=len(t), p=cls_rate / cls_rate.sum())
        lengths = [(rounded(k.prompt_tokens), rounded(k.output_tokens)) for k in sim.classes]
        lengths = [lengths[k] for k in ks]
    if len(t) == 0:
        raise InputError("no request arrives within the duration; simulate longer")
    u = rng.random((len(t), 2))
    span = float(t[-1])
    warm = warmup_s if warmup_s is not None else max(0.1 * span, 2 * life_s)
    if warm >= span:
        need_s = 2 * warm  # as long a measured window as the warm-up
        raise InputError(
            f"the arrivals span {span:.0f} s, not more than the warm-up of {warm:.0f} s (batches must fill "
            f"first); simulate at least {need_s:.0f} s: --duration {math.ceil(need_s)} or --requests "
            f"{math.ceil(total_rate * need_s)}"
        )
    sim.w0, sim.w1 = warm, span
    reqs = [_Req(int(k), p, o, float(ti), float(ud)) for k, (p, o), ti, ud in zip(ks, lengths, t, u[:, 1])]
    sim.run(reqs, u[:, 0], progress)
    notes = [] if _same_inputs(problem, plan) else [_other_inputs_note(fleet_rebuilt)]
    return summarise(sim, reqs, rates, "trace" if trace is not None else "poisson", seed, notes)
