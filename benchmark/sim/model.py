"""KuaiLive-Sim's generative model of live streaming (docs/simulator.md writes it out).

Streamers (popularity, category, latent factors, a daily schedule of broadcast blocks made of short
rooms) -> rooms (lifecycles, highlight windows, titles) -> users (tastes, activity, daily rhythm,
favourites) -> sessions of feed requests -> the room each request shows -> the funnel click -> watch
-> like/comment -> gift, sampled from benchmark.sim.oracle.Truth -> the all-four-behaviours user
selection -> the release tables (profiles, ids, room rows per p_date, release quirks).
Everything is vectorised numpy; one seeded SeedSequence feeds one generator per stage.

The stages, one module each, read in this order: `world` (streamers, users, favourites), `schedule` (rooms,
highlights, sessions of requests), `feed` (the room each request shows), `funnel` (the behaviours, the user
selection), `release` (the files); `vectorised` holds the helpers they share. This module runs them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmark.io import log
from benchmark.sim.feed import make_exposures
from benchmark.sim.funnel import run_funnel, select_users, unlogged_events
from benchmark.sim.oracle import CAP_MS, T0_MS, T1_MS
from benchmark.sim.presets import CATEGORIES, SIM1_OVERRIDES, SimParams, to_dict
from benchmark.sim.release import Sink, assemble
from benchmark.sim.schedule import add_highlights
from benchmark.sim.world import make_world

STAGES = ("streamers", "rooms", "highlights", "users", "favourites", "sessions", "feed", "funnel",
          "quirks", "selection", "titles", "ids", "side", "mismatch", "content", "platform")
VERSION = "kuailive-sim-2"
SIM1 = "kuailive-sim-1"  # what the model is with every sim-2 switch off (byte for byte)


def version(p: SimParams) -> str:
    """kuailive-sim-2, or kuailive-sim-1 when the parameters are sim-1's (SIM1_OVERRIDES: every mechanism sim-2
    added off and the values it recalibrated back)."""
    return SIM1 if all(getattr(p, k) == v for k, v in SIM1_OVERRIDES.items()) else VERSION


def simulate_release(p: SimParams, seed: int, sink: Sink, quiet: bool = False) -> dict[str, Any]:
    """Run the whole generative model for one seed, handing every table to `sink`; returns params.json's dict."""
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]
    bar = tqdm(total=4, desc="sim", unit="stage", disable=quiet, leave=False)

    def done(stage: str, what: str) -> None:
        now = time.perf_counter()
        timings[stage] = round(now - clock[0], 3)
        clock[0] = now
        bar.update(1)
        bar.set_postfix_str(stage)
        log(quiet, f"sim: {what} ({timings[stage]:.1f}s)")

    rngs = {name: np.random.Generator(np.random.PCG64(ss))
            for name, ss in zip(STAGES, np.random.SeedSequence(seed).spawn(len(STAGES)), strict=True)}
    w = make_world(p, rngs)
    done("world", f"world: {p.n_streamers} streamers, {w.rooms['start'].size} rooms, {w.U.shape[0]} users")
    if p.platform_traffic:  # the feed follows the platform audience, highlights included: windows first
        add_highlights(p, rngs["highlights"], w, np.ones(w.rooms["start"].size, dtype=bool))
    ex = make_exposures(p, rngs, w, quiet)
    w.room_key = np.zeros(0, np.int64)  # only the favourite look-ups needed it
    if not p.platform_traffic:  # sim-1: windows only for the rooms someone was shown
        exposed = np.zeros(w.rooms["start"].size, dtype=bool)
        exposed[ex.room] = True
        add_highlights(p, rngs["highlights"], w, exposed)
        del exposed
    done("exposures", f"exposures: {ex.user.size}, {w.hl_key.size} highlight windows")
    truth = w.truth(p)
    fu = run_funnel(p, rngs["funnel"], truth, ex)
    un = unlogged_events(p, rngs["quirks"], truth, ex, fu)
    done("funnel", f"funnel: {fu.cidx.size} clicks")
    sel = select_users(p, rngs["selection"], w.U.shape[0], ex, fu, un, quiet)
    counts = assemble(p, rngs, w, ex, fu, un, sel, sink)
    done("release", f"release: {sel.size} users kept, {counts['rooms_written']} rooms written")
    bar.close()
    return {"version": version(p), "seed": int(seed), "params": to_dict(p), "categories": list(CATEGORIES),
            "window_ms": [T0_MS, T1_MS], "cap_ms": CAP_MS, "counts": counts, "timings_s": timings}
