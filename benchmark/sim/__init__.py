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
    """Simulate preset (tiny, small, full) with seed; write out/KuaiLive/ and out/oracle/; return out."""
    from benchmark.sim.model import simulate_release
    from benchmark.sim.presets import get_params
    from benchmark.sim.writer import write_release

    params = get_params(preset, overrides)
    t0 = time.perf_counter()
    log(quiet, f"sim: preset {preset}, seed {seed}")
    rel = simulate_release(params, int(seed), quiet=quiet)
    rel.meta["preset"] = preset
    rel.meta["overrides"] = {k: list(v) if isinstance(v, tuple) else v for k, v in (overrides or {}).items()}
    write_release(rel, Path(out), quiet=quiet)
    log(quiet, f"sim: done in {time.perf_counter() - t0:.1f}s")
    return Path(out)


__all__ = ["simulate"]
