"""`planner deploy` on the shipped H100 + A100 chat plan, for every target: the files are read
back and every pool, TP degree, role, replica count and routing weight is checked against the plan."""

from __future__ import annotations

import json
import shlex
from collections import Counter

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from planner.plan import pool_id
from planner.report.export import export

RUN = CliRunner()
TARGETS = ("vllm", "sglang", "trtllm", "dynamo", "llm-d")


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory, request):
    from planner.api import plan_files

    root = request.config.rootpath
    plan = plan_files(root / "fleets/h100-a100.yaml", [root / "workloads/chat-llama70b.yaml"], explain=False)
    p = tmp_path_factory.mktemp("plan") / "plan.json"
    export(plan, str(p))
    return p


@pytest.fixture(scope="module")
def plan(plan_path):
    return json.loads(plan_path.read_text())


def _deploy(plan_path, target, out, *extra):
    r = RUN.invoke(app, ["deploy", str(plan_path), "--target", target, "--out", str(out), *extra])
    return r


def test_shipped_plan_is_the_expected_one(plan):
    """The numbers below are those of the shipped example: 4 pools, H100 prefill, A100 decode."""
    got = [(p["gpu"], p["role"], p["tp"], p["instances"]) for p in plan["pools"]]
    assert got == [
        ("h100-sxm", "prefill", 2, 4),
        ("h100-sxm", "prefill", 4, 2),
        ("a100-80-sxm", "decode", 4, 4),
        ("a100-80-sxm", "colocated", 8, 2),
    ]


def test_routing_weights_sum_to_one_and_match_the_pools(plan):
    rt = plan["routing"]
    assert plan["schema_version"] == "1.4"
    by_pool = {pool_id(p["model"], p["gpu"], p["role"], p["tp"]): p for p in plan["pools"]}
    assert [r["pool"] for r in rt["pools"]] == list(by_pool)
    seen = set()
    for route in rt["routes"]:
        seen.add((route["request_class"], route["phase"]))
        assert sum(s["weight"] for s in route["shares"]) == pytest.approx(1.0, abs=1e-5)
        for s in route["shares"]:
            p = by_pool[s["pool"]]
            assert p["role"] in (route["phase"], "colocated")
            rate = {c["request_class"]: c["requests_per_s"] for c in p["classes"]}[route["request_class"]]
            assert s["requests_per_s"] == rate
            assert s["weight"] == pytest.approx(rate / route["requests_per_s"], rel=1e-4)
    assert seen == {(k, ph) for k in ("short", "medium", "long") for ph in ("prefill", "decode")}
    # medium: 20.3821 + 3.93303 req/s on the H100 prefill pools and 0.404987 colocated
    med = next(r for r in rt["routes"] if r["request_class"] == "medium" and r["phase"] == "prefill")
    assert [s["weight"] for s in med["shares"]] == pytest.approx([0.824515, 0.159102, 0.0163829], rel=1e-4)
    # pairs: each prefill pool's handoffs of a class sum to 1, and carry its whole rate
    for p in (p for p in plan["pools"] if p["role"] == "prefill"):
        pid = pool_id(p["model"], p["gpu"], p["role"], p["tp"])
        for c in p["classes"]:
            mine = [x for x in rt["pairs"] if x["prefill_pool"] == pid and x["request_class"] == c["request_class"]]
            assert sum(x["weight"] for x in mine) == pytest.approx(1.0, abs=1e-5)
            assert sum(x["requests_per_s"] for x in mine) == pytest.approx(c["requests_per_s"], rel=1e-4)
            assert {x["decode_pool"] for x in mine} == {"chat-llama70b-a100-80-sxm-decode-tp4"}
    assert [(c["request_class"], c["prompt_tokens"], c["output_tokens"]) for c in rt["classes"]] == [
        ("short", 384, 128), ("medium", 1024, 256), ("long", 3072, 384)
    ]


def _script_argv(text: str) -> list[list[str]]:
    return [shlex.split(line.split("exec ", 1)[1].removesuffix(";;")) for line in text.splitlines() if "exec env " in line]


def _opt(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("target", TARGETS)
def test_deploy_every_target(plan_path, plan, tmp_path, target):
    out = tmp_path / target
    r = _deploy(plan_path, target, out)
    assert r.exit_code == 0, r.output
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert "RUNBOOK.md" in names and "routing.json" in names and "deploy.json" in names
    routing = json.loads((out / "routing.json").read_text())
    for key in ("pools", "classes", "routes", "pairs"):
        assert routing[key] == plan["routing"][key]
    pools = {pool_id(p["model"], p["gpu"], p["role"], p["tp"]): p for p in plan["pools"]}
    assert sum(len(v) for v in routing["endpoints"].values()) == sum(p["instances"] for p in pools.values())
    runbook = (out / "RUNBOOK.md").read_text()
    for pid, p in pools.items():
        assert f"| {pid} | {p['role']} | {p['gpu']} | {p['tp']} | {p['instances']} |" in runbook
    assert "1.3x" in runbook
    if target in ("vllm", "sglang", "trtllm"):
        _check_scripts(out, pools, target)
    elif target == "dynamo":
        _check_dynamo(out, pools)
    else:
        _check_llmd(out, pools)


TP_FLAG = {"vllm": "--tensor-parallel-size", "sglang": "--tp-size", "trtllm": "--tp_size"}


def _check_scripts(out, pools, target):
    nodes: Counter = Counter()
    for pid, p in pools.items():
        text = (out / "launch" / f"{pid}.sh").read_text()
        argv = _script_argv(text)
        assert len(argv) == p["instances"]
        for a in argv:
            env = dict(x.split("=", 1) for x in a[1:] if "=" in x and not x.startswith("-"))
            gpus = env["CUDA_VISIBLE_DEVICES"].split(",")
            assert len(gpus) == p["tp"]
            assert int(_opt(a, TP_FLAG[target])) == p["tp"]
            if target == "vllm":
                kv = json.loads(_opt(a, "--kv-transfer-config")) if "--kv-transfer-config" in a else None
                if p["role"] == "colocated":
                    assert kv is None
                else:
                    assert kv == {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
                assert _opt(a, "--gpu-memory-utilization") == "0.9"
                assert int(_opt(a, "--max-model-len")) == 3072 + 384
                if p["role"] != "prefill":
                    assert int(_opt(a, "--max-num-seqs")) == max(c["batch"] for c in p["classes"])
            if target == "sglang":
                mode = _opt(a, "--disaggregation-mode") if "--disaggregation-mode" in a else None
                assert mode == (None if p["role"] == "colocated" else p["role"])
                if mode:
                    assert _opt(a, "--disaggregation-transfer-backend") == "nixl"
            if target == "trtllm":
                opts = yaml.safe_load((out / _opt(a, "--extra_llm_api_options")).read_text())
                if p["role"] == "colocated":
                    assert "cache_transceiver_config" not in opts
                else:
                    assert opts["cache_transceiver_config"]["backend"] == "UCX"
                    assert opts["disable_overlap_scheduler"] is (p["role"] == "prefill")
        for line in text.splitlines():
            if "# node " in line:
                nodes[line.split("# node ")[1].split(",")[0]] += p["tp"]
    # every node holds at most its 8 GPUs, and the plan's 16 H100s and 32 A100s are all used
    assert all(v <= 8 for v in nodes.values())
    assert sum(v for k, v in nodes.items() if k.startswith("h100-sxm")) == 16
    assert sum(v for k, v in nodes.items() if k.startswith("a100-80-sxm")) == 32
    if target == "sglang":
        router = (out / "router" / "chat-llama70b.sh").read_text()
        assert router.count("--prefill ") == 6 and router.count("--decode ") == 4
    if target == "trtllm":
        cfg = yaml.safe_load((out / "router" / "chat-llama70b.disagg_config.yaml").read_text())
        assert cfg["context_servers"]["num_instances"] == 6 and cfg["generation_servers"]["num_instances"] == 4


def _check_dynamo(out, pools):
    doc = yaml.safe_load((out / "dynamo" / "chat-llama70b.yaml").read_text())
    assert doc["kind"] == "DynamoGraphDeployment"
    workers = {k: v for k, v in doc["spec"]["services"].items() if v["componentType"] == "worker"}
    assert len(workers) == len(pools)
    for (pid, p), (name, svc) in zip(pools.items(), workers.items(), strict=True):
        argv = shlex.split(svc["extraPodSpec"]["mainContainer"]["args"][0])
        assert argv[:3] == ["python3", "-m", "dynamo.vllm"]
        assert svc["replicas"] == p["instances"]
        assert svc["resources"]["limits"]["gpu"] == str(p["tp"])
        assert int(_opt(argv, "--tensor-parallel-size")) == p["tp"]
        assert ("--is-prefill-worker" in argv) == (p["role"] == "prefill")
        assert name.startswith({"prefill": "Prefill", "decode": "Decode", "colocated": "Agg"}[p["role"]])


def _check_llmd(out, pools):
    for pid, p in pools.items():
        doc = yaml.safe_load((out / "llm-d" / f"{pid}.values.yaml").read_text())
        group = "prefill" if p["role"] == "prefill" else "decode"
        other = "decode" if group == "prefill" else "prefill"
        g = doc[group]
        assert doc[other] == {"create": False}
        assert g["replicas"] == p["instances"] and g["parallelism"]["tensor"] == p["tp"]
        assert g["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == p["tp"]
        assert int(_opt(g["containers"][0]["args"], "--tensor-parallel-size")) == p["tp"]
        assert doc["routing"]["proxy"]["enabled"] is (p["role"] != "colocated")


def test_deterministic(plan_path, tmp_path):
    for target in TARGETS:
        a, b = tmp_path / f"{target}-a", tmp_path / f"{target}-b"
        assert _deploy(plan_path, target, a).exit_code == 0
        assert _deploy(plan_path, target, b).exit_code == 0
        fa = {str(p.relative_to(a)): p.read_bytes() for p in a.rglob("*") if p.is_file()}
        fb = {str(p.relative_to(b)): p.read_bytes() for p in b.rglob("*") if p.is_file()}
        assert fa == fb


def test_errors(plan_path, plan, tmp_path):
    out = tmp_path / "out"
    assert _deploy(plan_path, "vllm", out).exit_code == 0
    r = _deploy(plan_path, "vllm", out)  # refuses to overwrite
    assert r.exit_code == 2 and "not empty" in r.output and "Traceback" not in r.output
    before = (out / "RUNBOOK.md").read_text()
    r = _deploy(plan_path, "sglang", out, "--force")
    assert r.exit_code == 0 and (out / "RUNBOOK.md").read_text() != before
    assert not (out / "launch" / "x").exists()
    r = _deploy(plan_path, "kserve", tmp_path / "o2")
    assert r.exit_code == 2 and "error: --target: 'kserve'" in r.output and not (tmp_path / "o2").exists()
    old = dict(plan)
    old.pop("routing")
    old["schema_version"] = "1.3"
    p13 = tmp_path / "old.json"
    p13.write_text(json.dumps(old))
    r = _deploy(p13, "vllm", tmp_path / "o3")
    assert r.exit_code == 2 and "no `routing` section" in r.output and not (tmp_path / "o3").exists()
    r = _deploy(tmp_path / "missing.json", "vllm", tmp_path / "o4")
    assert r.exit_code == 2 and "file not found" in r.output


def test_sglang_plan_launches_its_own_version_without_warning(request, tmp_path):
    from planner.api import plan_files

    root = request.config.rootpath
    plan = plan_files(root / "fleets/h100-a100.yaml", [root / "workloads/chat-llama70b.yaml"], explain=False, engine="sglang")
    p = tmp_path / "plan.json"
    export(plan, str(p))
    r = _deploy(p, "sglang", tmp_path / "out")
    assert r.exit_code == 0 and "warning" not in r.output
    manifest = json.loads((tmp_path / "out" / "deploy.json").read_text())
    assert {x["engine_launched"] for x in manifest["pools"]} == {"sglang 0.5.1-0.5.9"}
    r = _deploy(p, "vllm", tmp_path / "out2")
    assert r.exit_code == 0 and "warning:" in r.output
