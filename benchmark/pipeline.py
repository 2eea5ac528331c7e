"""The `data` stage (make data/raw/<dataset> by simulating or fetching the release), and the data stages
after it run in one call, as the pipeline runs them (for the tests and `kuailive-bench check`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import log
from benchmark.params import Params, load_params


def make_raw(params_path: Path, out: Path, quiet: bool = False) -> Path:
    """Simulate `sim-<preset>-s<seed>[-no<switch>]...` into out, or put the real KuaiLive.zip (fetched or
    local) there."""
    params = load_params(params_path)
    ds = params.dataset
    out = Path(out)
    if ds.source == "sim":
        from benchmark.sim import simulate

        return simulate(preset=ds.preset, seed=ds.seed, out=out, overrides=ds.overrides or None, quiet=quiet)
    real = params.kuailive
    local = real.local_path
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

    fetch(url=real.url, dest=out / "KuaiLive.zip", md5=real.md5, size=real.size, quiet=quiet)
    return out


def build_from_raw(raw: Path, folders: dict[str, Path], params: Params, quiet: bool = True) -> dict[str, Path]:
    """ingest -> split -> features -> tasks from a raw release folder into folders[processed|split|features|tasks]."""
    from benchmark.data.ingest import ingest
    from benchmark.features import build_features
    from benchmark.split import make_split
    from benchmark.tasks import build_tasks

    d = {k: Path(folders[k]) for k in ("processed", "split", "features", "tasks")}
    ingest(Path(raw), d["processed"], quiet=quiet)
    make_split(d["processed"], d["split"], params.split, params.features.long_view_seconds, quiet=quiet)
    build_features(d["processed"], d["split"], d["features"], params.features.moment_windows_s,
                   params.features.long_view_seconds, quiet=quiet)
    build_tasks(d["processed"], d["split"], d["features"], d["tasks"], params, quiet=quiet)
    return d
