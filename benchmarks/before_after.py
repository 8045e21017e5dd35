"""Run benchmarks on a base revision and on the working tree, alternately, in one run.

    .venv/bin/python benchmarks/before_after.py BASE_REV verifier_pot verifier_eot [--rounds 2]

A regression check has to compare like with like: the same machine, the same load on it, the
same data. So the base revision is checked out into a temporary ``git worktree`` and each
benchmark runs ``--rounds`` times on each side, alternating (before, after, before, after...),
so that drift in the machine's load falls on both sides. The base side imports the package
from its worktree (``PYTHONPATH``), the current side from this checkout. Prints every run's
JSON and, per benchmark, the median headline rate of each side and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The number each benchmark leads with (higher is better), as a path into its JSON output.
HEADLINE = {
    "verifier_pot": ("sandbox_all_1319", "programs_per_s"),
    "verifier_eot": ("ours_sandboxed", "systems_per_s"),
}


def run(tree: Path, name: str, extra_env: dict[str, str]) -> dict:
    script = tree / "benchmarks" / f"{name}.py"
    env = {**os.environ, **extra_env, "DISTILLERY_SHARED_DATA": str(REPO.parent / "shared" / "data")}
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tree, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed on {tree}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout[done.stdout.index("{"):])


def headline(name: str, result: dict) -> float:
    section, key = HEADLINE[name]
    return float(result[section][key])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base", help="git revision to compare against (e.g. HEAD~3)")
    parser.add_argument("benchmarks", nargs="+", choices=sorted(HEADLINE))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="distillery-base-") as scratch:
        base = Path(scratch) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(base), args.base],
                       check=True)
        try:
            sides = {"before": (base, {"PYTHONPATH": str(base / "services")}), "after": (REPO, {})}
            summary = {}
            for name in args.benchmarks:
                rates: dict[str, list[float]] = {"before": [], "after": []}
                for _ in range(args.rounds):
                    for side, (tree, env) in sides.items():
                        result = run(tree, name, env)
                        rates[side].append(headline(name, result))
                        print(json.dumps({"side": side, "benchmark": name, **result}), flush=True)
                before, after = (statistics.median(rates[s]) for s in ("before", "after"))
                summary[name] = {"before": rates["before"], "after": rates["after"],
                                 "ratio_after_over_before": round(after / before, 3)}
            print(json.dumps({"base": args.base, "summary": summary}, indent=2))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False)


if __name__ == "__main__":
    main()
