"""The streaming worked example (OnlineLogistic) and the shared-fit one (MultiTaskMLP) on each device:
fit and predict samples per second, device name and peak GPU memory, from the runner's own records.

    python tests/benchmarks/measure_device.py --data-root data --dataset sim-small-s0

Runs on cpu, and on cuda when torch sees a GPU (the device check of docs/params.md, "Device").
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from types import MappingProxyType

import torch

from benchmark.params import ModelSpec
from benchmark.runner import run_one

MODELS = {"OnlineLogistic": ("baselines.online_logistic:OnlineLogistic", "ctr"),
          "MultiTaskMLP": ("baselines.multitask_mlp:MultiTaskMLP", "multi_behavior")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--dataset", default="sim-small-s0")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as runs:
        for name, (cls, task) in MODELS.items():
            for device in devices:
                spec = ModelSpec(f"{name}-{device}", cls, params=MappingProxyType({}), device=device)
                r = run_one(a.dataset, task, spec, 0, Path(a.data_root), Path(runs), a.threads, quiet=True)[0]
                fit_rate = r["n_train"] / r["train_seconds"] if r["train_seconds"] else None
                print(json.dumps({"model": name, "task": task, "status": r["status"], "error": r.get("error"),
                                  "device": r["device"], "device_name": r["device_name"],
                                  "fit_samples_per_s": fit_rate,
                                  "predict_samples_per_s": r.get("predict_rows_per_second"),
                                  "peak_gpu_memory_mb": r["peak_gpu_memory_mb"]}), flush=True)


if __name__ == "__main__":
    main()
