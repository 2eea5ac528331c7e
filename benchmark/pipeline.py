"""The `data` stage: make data/raw/<dataset> from params.yaml, by simulating or by fetching the release."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import log
from benchmark.params import load_params, parse_dataset


def make_raw(params_path: Path, out: Path, quiet: bool = False) -> Path:
    """Simulate `sim-<preset>-s<seed>` into out, or put the real KuaiLive.zip (fetched or local) there."""
    params = load_params(params_path)
    ds = parse_dataset(str(params.get("dataset", "")))
    out = Path(out)
    if ds.source == "sim":
        from benchmark.sim import simulate

        return simulate(preset=ds.preset, seed=ds.seed, out=out, quiet=quiet)
    real = (params.get("data") or {}).get("kuailive") or {}
    local = real.get("local_path")
    out.mkdir(parents=True, exist_ok=True)
    if local:
        src = Path(local).expanduser()
        if not src.exists():
            raise BenchmarkError(f"params.yaml: data.kuailive.local_path {src} does not exist")
        dest = out / src.name
        log(quiet, f"data: linking {src} into {out}")
        if dest.exists() or dest.is_symlink():
            dest.unlink() if not dest.is_dir() or dest.is_symlink() else shutil.rmtree(dest)
        dest.symlink_to(src.resolve(), target_is_directory=src.is_dir())
        return out
    from benchmark.data.fetch import fetch

    fetch(url=real.get("url"), dest=out / "KuaiLive.zip", md5=real.get("md5"), size=real.get("size"), quiet=quiet)
    return out
