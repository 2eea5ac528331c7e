"""KuaiLive-Sim: a generative model of live streaming that writes the real KuaiLive release format.

`simulate(preset, seed, out)` writes `out/KuaiLive/` (the release layout) and `out/oracle/` (the ground
truth it sampled from); see docs/simulator.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmark.io import log


def simulate(preset: str, seed: int, out: Path, overrides: dict[str, Any] | None = None,
             quiet: bool = False) -> Path:
    """Simulate preset (tiny, small, dense, full) with seed; write out/KuaiLive/ and out/oracle/ atomically;
    return out."""
    from benchmark.sim.model import simulate_release
    from benchmark.sim.presets import get_params
    from benchmark.sim.writer import DirectorySink

    params = get_params(preset, overrides)
    t0 = time.perf_counter()
    log(quiet, f"sim: preset {preset}, seed {seed} -> {out}")
    sink = DirectorySink(Path(out))
    try:
        meta = simulate_release(params, int(seed), sink, quiet=quiet)
        meta["preset"] = preset
        meta["overrides"] = {k: list(v) if isinstance(v, tuple) else v for k, v in (overrides or {}).items()}
        # Timings vary run to run: keep params.json byte-identical for a given preset and seed.
        timings = meta.pop("timings_s")
        sink.commit(meta)
    except BaseException:
        sink.abort()
        raise
    log(quiet, f"sim: wrote {Path(out)}/KuaiLive and oracle/ in {time.perf_counter() - t0:.1f}s "
               f"(stages: {', '.join(f'{k} {v:.1f}s' for k, v in timings.items())})")
    return Path(out)


__all__ = ["simulate"]
