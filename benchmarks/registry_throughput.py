"""Registry push/pull throughput vs the raw MinIO SDK on the same S3 server, and the
registry process's peak memory while streaming a large dataset.

    .venv/bin/python benchmarks/registry_throughput.py [--megabytes 1024]

Starts a real SeaweedFS S3 server and a registry *process* (so its memory is its own),
pushes MEGABYTES of generated thought rows and pulls them back; then puts and gets the
very same bytes as one object with the plain ``minio`` SDK. Goal: registry >= 0.5x raw.
Memory: the registry's peak RSS (VmHWM) after a 1/8-size warm-up stream and after the
full stream -- flat means the second is no larger than the first plus a shard or two.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import machine

from distillery.registry.client import RegistryClient, header
from distillery.stack.s3server import SeaweedS3, free_port

WORDS = "eggs ducks apples price total each per day week cost sold left half twice more".split()


def row(j: int) -> dict:
    """A teacher-thought-like row; varied enough to compress like real ones (~4-5x)."""
    rng = random.Random(j)
    names = [f"{rng.choice(WORDS)}_{rng.choice(WORDS)}" for _ in range(4)]
    lines = [f"{n} = {rng.randint(1, 999)} * {rng.randint(2, 60)}" for n in names]
    return {"id": f"gsm8k-train-{j}", "thought_type": rng.choice(["cot", "pot", "eot"]),
            "text": "\n".join(lines) + f"\nans = {' + '.join(names)}", "gold": rng.randint(1, 10**5),
            "answer": float(rng.randint(1, 10**5)), "status": "ok", "correct": rng.random() < 0.8, "error": None}


def rows(megabytes: float, chunk_rows: int = 4000):
    """JSONL chunks of about 1 MB until ``megabytes`` are produced (the same rows every call)."""
    template = [json.dumps(row(j)).encode() + b"\n" for j in range(chunk_rows * 4)]
    produced, i = 0, 0
    while produced < megabytes * 1e6:
        chunk = b"".join(template[(i + k) % len(template)] for k in range(chunk_rows))
        i += chunk_rows
        produced += len(chunk)
        yield chunk


class Reader(io.RawIOBase):
    """A file-like view of a chunk iterator, for minio's streaming put."""

    def __init__(self, chunks):
        self.chunks, self.buffer = iter(chunks), b""

    def readable(self):
        return True

    def readinto(self, target):
        while not self.buffer:
            try:
                self.buffer = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self.buffer))
        target[:n], self.buffer = self.buffer[:n], self.buffer[n:]
        return n


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    return status_mb(pid, "VmHWM")


class RssSampler(threading.Thread):
    """Samples a process's resident memory every 0.25 s, to see whether it stays flat."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.stopped = pid, [], threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.25):
            self.samples.append(status_mb(self.pid, "VmRSS"))

    def quarters(self) -> list[float]:
        """The largest sample in each quarter of the run."""
        n = len(self.samples)
        return [round(max(self.samples[i * n // 4:(i + 1) * n // 4] or [float("nan")]), 1) for i in range(4)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="registry-bench-"))
    s3 = SeaweedS3(work / "s3", "bench", "bench-secret-key")
    endpoint = s3.start()
    port = free_port()
    env = {**os.environ, "DISTILLERY_S3_SECRET_KEY": endpoint.secret_key, "DISTILLERY_ADMIN_TOKEN": "bench-admin"}
    registry = subprocess.Popen([sys.executable, "-m", "distillery.cli.main", "registry", "serve", "--port", str(port),
                                 "--s3-endpoint", endpoint.endpoint, "--s3-access-key", endpoint.access_key],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    registry.stdout.readline()
    address = f"127.0.0.1:{port}"
    try:
        with RegistryClient(address, "bench-admin") as admin:
            token = admin.create_team("bench")
        results = {}
        with RegistryClient(address, token) as client:
            client.push(header("warmup"), rows(args.megabytes / 8))
            for _ in client.pull("warmup"):
                pass
            warm_peak = peak_rss_mb(registry.pid)

            sampler = RssSampler(registry.pid)
            sampler.start()
            started = time.perf_counter()
            manifest = client.push(header("bench"), rows(args.megabytes))
            push_s = time.perf_counter() - started
            started = time.perf_counter()
            pulled = sum(len(chunk) for chunk in client.pull("bench"))
            pull_s = time.perf_counter() - started
            sampler.stopped.set()
            full_peak = peak_rss_mb(registry.pid)
        assert pulled == manifest.bytes
        mb = manifest.bytes / 1e6
        results["registry"] = {"rows": manifest.rows, "megabytes": round(mb, 1),
                               "push_MB_s": round(mb / push_s, 1), "push_rows_s": round(manifest.rows / push_s),
                               "pull_MB_s": round(mb / pull_s, 1), "pull_rows_s": round(manifest.rows / pull_s),
                               "stored_MB": round(sum(s.compressed_bytes for s in manifest.shards) / 1e6, 1)}

        from minio import Minio

        raw = Minio(endpoint.endpoint, access_key=endpoint.access_key, secret_key=endpoint.secret_key, secure=False)
        raw.make_bucket("raw-bench")
        started = time.perf_counter()
        raw.put_object("raw-bench", "blob", Reader(rows(args.megabytes)), length=-1, part_size=16 * 1024 * 1024)
        raw_put_s = time.perf_counter() - started
        started = time.perf_counter()
        response = raw.get_object("raw-bench", "blob")
        got = sum(len(c) for c in response.stream(1024 * 1024))
        response.close()
        raw_get_s = time.perf_counter() - started
        assert got == manifest.bytes
        results["raw_minio"] = {"put_MB_s": round(mb / raw_put_s, 1), "get_MB_s": round(mb / raw_get_s, 1)}
        results["ratio"] = {"push_vs_put": round(raw_put_s / push_s, 2), "pull_vs_get": round(raw_get_s / pull_s, 2)}
        results["registry_peak_rss_MB"] = {"after_1/8_size_stream": round(warm_peak, 1),
                                           "after_full_stream": round(full_peak, 1),
                                           "max_rss_per_quarter_of_full_push_and_pull": sampler.quarters()}
        print(json.dumps({"benchmark": "registry_throughput", "machine": machine(), **results}, indent=2))
    finally:
        registry.terminate()
        registry.wait()
        s3.stop()


if __name__ == "__main__":
    main()
