"""Devices: `device: auto | cpu | cuda` per model; a run records where it ran (and its peak GPU memory on
CUDA); asking for CUDA where there is none fails that model's run with one clear message."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

from benchmark.errors import BenchmarkError, ModelError
from benchmark.io import run_folder
from benchmark.params import ModelSpec, parse_params
from benchmark.runner import resolve_device, run_one

DATASET = "sim-tiny-s0"
SPEC = "baselines.online_logistic:OnlineLogistic"
NO_GPU = not torch.cuda.is_available()


def test_auto_is_cpu_without_a_gpu_and_cpu_is_always_cpu():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cpu" if NO_GPU else "cuda")


@pytest.mark.skipif(not NO_GPU, reason="a GPU is present")
def test_cuda_without_a_gpu_is_the_models_own_error(tiny_data, tmp_path):
    with pytest.raises(ModelError, match="torch sees no GPU"):
        resolve_device("cuda")
    spec = ModelSpec("OnCuda", SPEC, params={"epochs": 1}, device="cuda")
    rec = run_one(DATASET, "ctr", spec, 0, tiny_data, tmp_path, quiet=True)[0]
    assert rec["status"] == "failed" and "device: cuda" in rec["error"]
    saved = json.loads((run_folder(tmp_path, DATASET, "ctr", "OnCuda") / "seed0" / "metrics.json").read_text())
    assert saved["status"] == "failed"


@pytest.mark.parametrize("device", ["cpu", "auto"] if NO_GPU else ["cpu", "auto", "cuda"])
def test_a_run_records_its_device(tiny_data, tmp_path, device):
    spec = ModelSpec("Dev", SPEC, params={"epochs": 1}, device=device)
    rec = run_one(DATASET, "ctr", spec, 0, tiny_data, tmp_path, quiet=True)[0]
    assert rec["status"] == "ok", rec.get("error")
    ran = "cpu" if device == "cpu" or NO_GPU else "cuda"
    assert rec["device"] == ran and rec["device_name"]
    assert (rec["peak_gpu_memory_mb"] is None) == (ran == "cpu")


def test_params_take_a_device_per_model():
    p = parse_params({"dataset": "sim-tiny-s0", "models": {"A": {"class": "m:A", "device": "cpu"},
                                                           "B": {"class": "m:B"}}})
    assert p.models["A"].device == "cpu" and p.models["B"].device == "auto"
    with pytest.raises(BenchmarkError, match="models.A.device = 'gpu' is not one of auto, cpu, cuda"):
        parse_params({"dataset": "sim-tiny-s0", "models": {"A": {"class": "m:A", "device": "gpu"}}})


def test_cuda_runs_get_the_settings_repeatable_kernels_need(monkeypatch):
    """seed_everything on cuda, with a stand-in torch that records what it was told (no GPU needed)."""
    from types import SimpleNamespace

    from benchmark.runner import seed_everything

    told: dict = {}
    fake = SimpleNamespace(
        manual_seed=lambda s: told.setdefault("seed", s), set_num_threads=lambda n: told.setdefault("threads", n),
        use_deterministic_algorithms=lambda on, warn_only: told.setdefault("deterministic", on),
        cuda=SimpleNamespace(manual_seed_all=lambda s: told.setdefault("cuda_seed", s)),
        backends=SimpleNamespace(cudnn=SimpleNamespace(deterministic=False, benchmark=True)))
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seed_everything(7, 2, "cuda")
    assert told == {"seed": 7, "threads": 2, "deterministic": True, "cuda_seed": 7}
    assert fake.backends.cudnn.deterministic and not fake.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
