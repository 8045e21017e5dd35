"""A served student against vLLM's own OpenAI server: the same load, the same model and settings, one run.

Starts a local stack in a temporary DISTILLERY_HOME and measures, one target at a time (nothing
else generating meanwhile):

* ``vllm-server`` -- ``python -m vllm.entrypoints.openai.api_server`` started here on the converted
  SmolLM2 directory with the project's CPU engine settings (``student/vllm_options.py``: eager,
  float32, the fixed KV cache) and the replica's context (4096);
* ``distillery-vllm`` -- ``distillery serve … --backend vllm`` (one model replica, ``--replica-cpus``):
  vLLM's async engine in the Ray Serve replica, behind the ingress (auth, limits, metrics);
* ``distillery-hf`` -- the same deployment with ``--backend hf`` (``@serve.batch``, defaults).

The load: C asyncio clients, each posting ``/v1/completions`` (``stream: true`` with usage, so
time to first token is seen; the text is the same as unstreamed; ``--no-stream``: one JSON body) with the next GSM8K-test question
in the student prompt format (a PoT prompt), ``max_tokens`` 64, temperature 0, and sending its next
request when the answer ends. Clients stop sending after ``--duration`` s and the requests in
flight drain; throughput = completion tokens (and answers) / time from the first send to the last
answer. Latency = send to last byte; TTFT = send to the first text. Any non-200 or a stream that
does not end in ``[DONE]`` is an error. Where the CPU went meanwhile: each process's CPU seconds
over the load and drain (``/proc/PID/stat``), grouped by role (the model worker doing the forward
passes, vLLM's engine core, the HTTP front: vLLM's API server or Ray Serve's proxy + ingress +
model replica, Ray's own processes, this client) -- on a 2-core machine whatever the front and Ray
take, the model worker does not get.

    .venv/bin/python benchmarks/serving_vs_engine.py [--clients 1,8,32,64] [--duration 60]
        [--targets vllm-server,distillery-vllm,distillery-hf]

Goal (issue 19): distillery-vllm >= 1.0x vllm-server's completion tok/s at 32 clients, p99 <= 1.2x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SHARED_DATA, machine, percentiles  # noqa: E402

from distillery.registry.benchmarks import load_benchmark  # noqa: E402
from distillery.stack import local  # noqa: E402
from distillery.stack.s3server import free_port  # noqa: E402
from distillery.student.models import resolve_model  # noqa: E402
from distillery.student.thought_text import student_input  # noqa: E402
from distillery.student.vllm_options import engine_options  # noqa: E402

MODEL = "smollm2-135m-instruct"
CONTEXT = 4096  # the replica's: min(max_position_embeddings, serving.replica.MAX_CONTEXT)
TARGETS = ("vllm-server", "distillery-vllm", "distillery-hf")


async def one_request(session, url: str, headers: dict, prompt: str, max_tokens: int, stream: bool) -> dict:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {})}
    sent = time.perf_counter()
    first = None
    tokens = 0
    async with session.post(url, json=body, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {(await response.text())[:200]}")
        if not stream:  # no time to first token: it counts as the whole latency
            tokens = (await response.json())["usage"]["completion_tokens"]
            done = time.perf_counter()
            return {"latency_ms": (done - sent) * 1000, "ttft_ms": (done - sent) * 1000, "tokens": tokens,
                    "done": done}
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = time.perf_counter()
                return {"latency_ms": (done - sent) * 1000, "ttft_ms": ((first or done) - sent) * 1000,
                        "tokens": tokens, "done": done}
            chunk = json.loads(line[len("data: "):])
            if "error" in chunk:
                raise RuntimeError(chunk["error"].get("message", "stream error"))
            if first is None and any(c.get("text") for c in chunk.get("choices", [])):
                first = time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    raise RuntimeError("the stream ended without [DONE]")


async def drive(url: str, token: str | None, prompts: list[str], clients: int, duration_s: float,
                max_tokens: int, stream: bool = True) -> dict:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    results: list[dict] = []
    errors: list[str] = []
    counter = [0]
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        start = time.perf_counter()
        end = start + duration_s

        async def client() -> None:
            while time.perf_counter() < end:
                prompt = prompts[counter[0] % len(prompts)]
                counter[0] += 1
                try:
                    results.append(await one_request(session, f"{url}/v1/completions", headers, prompt, max_tokens,
                                                      stream))
                except Exception as exc:  # counted, and the client goes on
                    errors.append(str(exc)[:200])

        await asyncio.gather(*(client() for _ in range(clients)))
    if not results:
        return {"clients": clients, "answered": 0, "errors": len(errors), "error_samples": errors[:3]}
    elapsed = max(r["done"] for r in results) - start
    tokens = sum(r["tokens"] for r in results)
    ttft = percentiles([r["ttft_ms"] for r in results])
    return {"clients": clients, "duration_s": duration_s, "answered": len(results), "errors": len(errors),
            "error_samples": errors[:3], "completion_tokens": tokens,
            "completion_tok_per_s": round(tokens / elapsed, 2), "requests_per_s": round(len(results) / elapsed, 3),
            "drain_s": round(elapsed - duration_s, 1),
            **percentiles([r["latency_ms"] for r in results]),
            "ttft_p50_ms": ttft["p50_ms"], "ttft_p99_ms": ttft["p99_ms"]}


# Roles by command line, first match wins (Ray names its workers ``ray::ACTOR``, vLLM its processes).
CPU_ROLES = (("model worker", ("VLLM::Worker",)), ("engine core", ("VLLM::EngineCore",)),
             ("vllm api server", ("vllm.entrypoints.openai.api_server",)),
             ("serve model replica", ("StudentReplica",)), ("serve ingress", ("StudentAPI",)),
             ("serve proxy", ("ray::ProxyActor",)), ("serve controller", ("ray::ServeController",)),
             ("ray system", ("raylet", "gcs_server", "ray::", "dashboard", "log_monitor", "ray/_private")),
             ("benchmark client", ("serving_vs_engine.py",)))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (role, user + system CPU ticks so far) of every process this user can read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended meanwhile
            continue
        role = next((name for name, marks in CPU_ROLES if any(m in cmdline for m in marks)), "other")
        found[int(entry.name)] = (role, int(fields[11]) + int(fields[12]))  # utime, stime
    return found


def cpu_seconds(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]) -> dict[str, float]:
    """CPU seconds each role used between two :func:`cpu_ticks` (processes that ended meanwhile are
    not counted; a new one counts from zero)."""
    used: dict[str, float] = {}
    for pid, (role, ticks) in after.items():
        used[role] = used.get(role, 0.0) + (ticks - before.get(pid, (role, 0))[1]) / TICKS
    return {role: round(seconds, 1) for role, seconds in sorted(used.items(), key=lambda kv: -kv[1]) if seconds >= 0.1}


def start_vllm_server(model_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """vLLM's own OpenAI server with the options every in-process engine of the project takes."""
    port = free_port()
    flags = []
    for name, value in engine_options(on_gpu=False).items():
        flag = "--" + name.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--served-model-name", MODEL, "--host", "127.0.0.1", "--port", str(port),
               "--max-model-len", str(CONTEXT), "--seed", "0", *flags]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, None, process)
    except RuntimeError:
        process.kill()
        raise RuntimeError(f"the vLLM server did not start; see {log}") from None
    return process, url


def wait_ready(url: str, token: str | None, process: subprocess.Popen | None = None) -> None:
    """Until ``GET /v1/models`` answers (an engine starts in tens of seconds on a CPU)."""
    deadline = time.monotonic() + 600
    request = urllib.request.Request(f"{url}/v1/models", headers={"Authorization": f"Bearer {token}"} if token else {})
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        try:
            urllib.request.urlopen(request, timeout=5).read()
            return
        except OSError:
            time.sleep(2)
    raise RuntimeError(f"{url} did not come up")


def measure(label: str, url: str, token: str | None, prompts: list[str], args) -> list[dict]:
    wait_ready(url, token)
    asyncio.run(drive(url, token, prompts[:2], 2, 0.1, args.max_tokens, args.stream))  # warm: engine paths hot
    runs = []
    for clients in (int(c) for c in args.clients.split(",")):
        before = cpu_ticks()
        run = {"target": label, "stream": args.stream,
               **asyncio.run(drive(url, token, prompts, clients, args.duration, args.max_tokens, args.stream))}
        run["cpu_s"] = cpu_seconds(before, cpu_ticks())
        print(json.dumps(run), flush=True)
        runs.append(run)
    return runs


def table(runs: list[dict]) -> str:
    lines = ["| server | clients | completion tok/s | req/s | p50 | p99 | TTFT p50 | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if not r.get("answered"):
            lines.append(f"| {r['target']} | {r['clients']} | - | - | - | - | - | {r['errors']} |")
            continue
        lines.append(f"| {r['target']} | {r['clients']} | {r['completion_tok_per_s']} | {r['requests_per_s']} | "
                     f"{r['p50_ms'] / 1000:.1f} s | {r['p99_ms'] / 1000:.1f} s | {r['ttft_p50_ms'] / 1000:.2f} s | "
                     f"{r['errors']} |")
    return "\n".join(lines)


def cpu_table(runs: list[dict]) -> str:
    """Each run's CPU seconds by role, the model worker's share of the machine's first."""
    roles = [name for name, _ in CPU_ROLES] + ["other"]
    lines = ["| server | clients | wall s | " + " | ".join(roles) + " |", "|---|---|---|" + "---|" * len(roles)]
    for r in runs:
        if r.get("answered"):
            wall = r["duration_s"] + r["drain_s"]
            lines.append(f"| {r['target']} | {r['clients']} | {wall:.0f} | "
                         + " | ".join(str(r["cpu_s"].get(role, 0)) for role in roles) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,8,32,64")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load per client count (then drain).")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True,
                        help="Streamed replies (time to first token seen); --no-stream: one JSON body each.")
    parser.add_argument("--replica-cpus", type=float, default=2, help="num_cpus of the Distillery model replica.")
    args = parser.parse_args()
    targets = args.targets.split(",")
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {', '.join(TARGETS)}")

    prompts = [student_input(row["question"], "pot") for row in load_benchmark("gsm8k-test", SHARED_DATA).rows]
    home = Path(tempfile.mkdtemp(prefix="serving-vs-engine-"))
    os.environ["DISTILLERY_HOME"] = str(home)
    os.environ.setdefault("DISTILLERY_MODELS", str(Path.home() / ".distillery" / "models"))
    model_dir = resolve_model(MODEL)
    clients = max(int(c) for c in args.clients.split(","))
    report = {"machine": machine(), "model": f"{MODEL} (converted, float32), CPU engine settings "
                                             f"{engine_options(on_gpu=False)}",
              "load": f"/v1/completions, student PoT prompts of GSM8K test, max_tokens {args.max_tokens}, "
                      f"temperature 0, {'streamed' if args.stream else 'not streamed'}, {args.duration:g} s then drain",
              "runs": []}
    state = local.up(home)
    try:
        os.environ.update(local.ray_client_env(home))
        from ray import serve

        from distillery.serving.config import Autoscaling, Limits, ServeConfig  # Ray after its auth settings
        from distillery.serving.deploy import ServeEndpoint, deploy

        token = local.read_secret(home / "token")
        endpoint = ServeEndpoint(http_port=state.ray_ports.serve_http, grpc_port=state.ray_ports.serve_grpc)
        for target in targets:
            if target == "vllm-server":
                process, url = start_vllm_server(model_dir, home / "vllm-server.log")
                try:
                    report["runs"] += measure(target, url, None, prompts, args)
                finally:
                    process.terminate()
                    process.wait(timeout=60)
                continue
            config = ServeConfig(
                name=target, model=MODEL, team=state.default_team, backend=target.split("-")[1],
                max_ongoing_requests=max(256, clients), autoscaling=Autoscaling(min_replicas=1, max_replicas=1),
                num_cpus=args.replica_cpus, registry=state.registry.address, verifier=state.verifier.address,
                token=token, limits=Limits(team_max_concurrent=clients))  # every client is one team
            url = deploy(config, state.ray.address, endpoint)
            try:
                report["runs"] += measure(target, url, token, prompts, args)
            finally:
                serve.delete(config.name)
    finally:
        local.down(home)
    by = {(r["target"], r["clients"]): r for r in report["runs"] if r.get("answered")}
    for clients in sorted({r["clients"] for r in report["runs"]}):
        plain, ours = by.get(("vllm-server", clients)), by.get(("distillery-vllm", clients))
        if plain and ours:
            report[f"distillery_vllm_vs_server_{clients}_clients"] = {
                "throughput": round(ours["completion_tok_per_s"] / plain["completion_tok_per_s"], 3),
                "p99": round(ours["p99_ms"] / plain["p99_ms"], 3)}
    print(json.dumps(report, indent=2))
    print(table(report["runs"]))
    print(cpu_table(report["runs"]))


if __name__ == "__main__":
    main()
