"""Memory of one training step per token, measured, against the estimate that sizes batches.

``distillery.trainer.memory`` sizes a worker's token batch from its free memory and a
per-token cost. This measures that cost for SmolLM2-135M on CPU: the peak RSS of one full
fine-tuning step (forward, backward, AdamW) above the RSS before it, divided by the batch's
tokens; each point runs in a fresh process so peaks do not hide each other.

    .venv/bin/python benchmarks/trainer_memory.py [--points 1024x512,2048x512,2048x128]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

ONE_POINT = """
import json, sys, torch
from pathlib import Path
from distillery.student.models import resolve_model
from distillery.trainer.students import open_student

def status(key):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key))
    return int(line.split()[1]) * 1024

tokens, length = int(sys.argv[1]), int(sys.argv[2])
model = open_student(resolve_model("smollm2-135m-instruct")).model
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
ids = torch.randint(0, 49000, (1, 16))
model(input_ids=ids, labels=ids).loss.backward(); optimizer.step(); optimizer.zero_grad()  # optimizer state exists
before = status("VmRSS:")
ids = torch.randint(0, 49000, (tokens // length, length))
model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss.backward()
optimizer.step()
print(json.dumps({"per_token": (status("VmHWM:") - before) / tokens}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="1024x512,2048x512,2048x128", help="TOKENSxLENGTH,...")
    args = parser.parse_args()
    from distillery.student.models import resolve_model
    from distillery.trainer.memory import bytes_per_token
    from distillery.trainer.students import open_student

    estimate = bytes_per_token(open_student(resolve_model("smollm2-135m-instruct")).model)
    print(f"estimate used to size batches: {estimate / 2**20:.2f} MiB/token")
    print("| tokens | length | measured MiB/token | estimate / measured |\n|---|---|---|---|")
    for point in args.points.split(","):
        tokens, length = point.split("x")
        out = subprocess.run([sys.executable, "-c", ONE_POINT, tokens, length], capture_output=True, text=True,
                             check=True, env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "services"),
                                              **__import__("os").environ})
        measured = json.loads(out.stdout.strip().splitlines()[-1])["per_token"]
        print(f"| {tokens} | {length} | {measured / 2**20:.2f} | {estimate / measured:.2f} |")


if __name__ == "__main__":
    main()
