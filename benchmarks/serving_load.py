"""Served-student load test: dynamic batching against one request at a time, same replica count.

Starts a local stack in a temporary DISTILLERY_HOME, deploys SmolLM2 (HF engine) with one model
replica twice -- ``max_batch_size`` N (``@serve.batch``) and 1 -- and drives each with C
concurrent clients on loopback for D seconds. Every client asks ``POST /NAME/v1/solve`` with the
next GSM8K-test question (one PoT thought, executed by the verifier) and sends its next request
when the answer comes. The load stops by itself after the window and drains: every request
sent in the window runs to completion. Throughput = requests answered / time from the first
send to the last answer (``requests_per_s``); ``answered_in_window`` counts those done inside
the window (coarse when one batch takes a large part of it). Latency percentiles cover every
request. Any non-200 is an error.

    .venv/bin/python benchmarks/serving_load.py [--clients 32,64] [--duration 60] [--max-batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SHARED_DATA, machine, percentiles  # noqa: E402

from distillery.registry.benchmarks import load_benchmark  # noqa: E402
from distillery.serving.client import StudentClient, StudentError  # noqa: E402
from distillery.stack import local  # noqa: E402


def drive(url: str, token: str, questions: list[str], clients: int, duration_s: float, methods: list[str]) -> dict:
    client = StudentClient(url, token, timeout_s=1800)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    answered_in_window = 0
    counter = [0]
    start = time.perf_counter()
    end = start + duration_s

    def worker() -> None:
        nonlocal answered_in_window
        while time.perf_counter() < end:
            with lock:
                question = questions[counter[0] % len(questions)]
                counter[0] += 1
            sent = time.perf_counter()
            try:
                client.solve(question, methods, "single" if len(methods) == 1 else "vote")
            except (StudentError, OSError) as exc:
                with lock:
                    errors.append(str(exc)[:200])
                continue
            done = time.perf_counter()
            with lock:
                latencies.append((done - sent) * 1000)
                if done <= end:
                    answered_in_window += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"clients": clients, "duration_s": duration_s, "answered": len(latencies),
            "requests_per_s": round(len(latencies) / elapsed, 3), "answered_in_window": answered_in_window,
            "in_window_per_s": round(answered_in_window / duration_s, 3), "sent": len(latencies) + len(errors),
            "errors": len(errors), "error_samples": errors[:3], "drain_s": round(time.perf_counter() - end, 1),
            **percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="32,64")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--methods", default="pot")
    parser.add_argument("--replica-cpus", type=float, default=1, help="num_cpus (= torch threads) of the replica.")
    args = parser.parse_args()

    questions = [row["question"] for row in load_benchmark("gsm8k-test", SHARED_DATA).rows[:400]]
    home = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    os.environ["DISTILLERY_HOME"] = str(home)
    os.environ.setdefault("DISTILLERY_MODELS", str(Path.home() / ".distillery" / "models"))
    state = local.up(home)
    os.environ.update(local.ray_client_env(home))
    from distillery.serving.config import Autoscaling, Limits, ServeConfig  # Ray is imported after its auth settings
    from distillery.serving.deploy import ServeEndpoint, deploy

    token = local.read_secret(home / "token")
    endpoint = ServeEndpoint(http_port=state.ray_ports.serve_http, grpc_port=state.ray_ports.serve_grpc)
    report = {"machine": machine(),
              "model": f"smollm2-135m-instruct (HF engine, 1 model replica, {args.replica_cpus:g} CPU)",
              "max_new_tokens": args.max_new_tokens, "methods": args.methods, "runs": []}
    try:
        for mode, batch in (("batched", args.max_batch_size), ("one-at-a-time", 1)):
            config = ServeConfig(
                name=f"bench-{mode}", model="smollm2-135m-instruct", team=state.default_team, backend="hf",
                max_new_tokens=args.max_new_tokens, max_batch_size=batch, batch_wait_timeout_s=0.05,
                max_ongoing_requests=256, autoscaling=Autoscaling(min_replicas=1, max_replicas=1),
                num_cpus=args.replica_cpus,
                registry=state.registry.address, verifier=state.verifier.address, token=token,
                # every client is the same team: its limit must admit them all
                limits=Limits(team_max_concurrent=max(int(c) for c in args.clients.split(","))))
            url = deploy(config, state.ray.address, endpoint)
            StudentClient(url, token).solve(questions[0], ["pot"], "single")  # warm: model loaded, paths hot
            for clients in (int(c) for c in args.clients.split(",")):
                run = {"mode": mode, "max_batch_size": batch,
                       **drive(url, token, questions, clients, args.duration, args.methods.split(","))}
                print(json.dumps(run), flush=True)
                report["runs"].append(run)
            from ray import serve

            serve.delete(config.name)
    finally:
        local.down(home)
    for clients in sorted({r["clients"] for r in report["runs"]}):
        by_mode = {r["mode"]: r for r in report["runs"] if r["clients"] == clients}
        if by_mode.get("one-at-a-time", {}).get("requests_per_s"):
            report[f"speedup_{clients}_clients"] = round(
                by_mode["batched"]["requests_per_s"] / by_mode["one-at-a-time"]["requests_per_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
