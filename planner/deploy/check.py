"""Optional: parse the generated launch arguments with the engines' own argument parsers
(`make check-deploy`). Needs vllm and/or sglang installed as Python packages; each engine that
is not installed is reported as skipped. Never part of `make test`.

    python -m planner.deploy.check PLAN.json
"""

from __future__ import annotations

import importlib.util
import sys

from planner.deploy import deploy
from planner.report.export import read_plan


def _vllm(argv: list[str]) -> None:
    from vllm.entrypoints.openai.cli_args import make_arg_parser
    from vllm.utils import FlexibleArgumentParser

    make_arg_parser(FlexibleArgumentParser()).parse_args(argv[2:])  # after `vllm serve`: model_tag and flags


def _sglang(argv: list[str]) -> None:
    import argparse

    from sglang.srt.server_args import ServerArgs

    p = argparse.ArgumentParser()
    ServerArgs.add_cli_args(p)
    p.parse_args(argv[3:])  # after `python -m sglang.launch_server`


CHECKS = {"vllm": ("vllm", _vllm), "sglang": ("sglang", _sglang)}


def main(args: list[str]) -> int:
    plan = read_plan(args[0] if args else "plan.json")
    bad = 0
    for target, (module, check) in CHECKS.items():
        if importlib.util.find_spec(module) is None:
            print(f"{target}: skipped ({module} is not installed here)")
            continue
        from importlib.metadata import version

        files, _ = deploy(plan, target)
        import json

        n = 0
        for pool in json.loads(files["deploy.json"])["pools"]:
            for argv in pool["argv"]:
                try:
                    check(argv)
                    n += 1
                except SystemExit:
                    bad += 1
                    print(f"{target} {version(module)}: {pool['pool']}: rejected by the engine's parser: {' '.join(argv)}")
        print(f"{target} {version(module)}: {n} launch command lines parsed by the engine's own parser")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
