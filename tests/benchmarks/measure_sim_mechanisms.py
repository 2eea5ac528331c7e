"""KuaiLive-Sim 2's mechanisms on and off: each one's detection statistic at small, and the highlight picture
(live-time share, exposure share, click rate and 30-s entry share inside vs outside) at small and dense.

    python tests/benchmarks/measure_sim_mechanisms.py --seed 0 --out /path/to/scratch

Each case simulates into a scratch folder it deletes after measuring (docs/simulator.md, section 3).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from benchmark.sim import simulate
from benchmark.sim.report import highlight_stats, mechanism_stats

STATS = {"platform_traffic": "highlight_exposure_lift", "content_drift": "multi_category_streamers",
         "weekly_rhythm": "weekend_weekday_ratio", "platform_profiles": "profile_click_partial",
         "match_value": "oracle_watch_spearman"}
CASES = ([("small", "on", {})] + [("small", f"no{k}", {k: False}) for k in STATS]
         + [("small", "nohighlights", {"highlights": False}), ("dense", "on", {}),
            ("dense", "noplatform_traffic", {"platform_traffic": False}),
            ("dense", "nohighlights", {"highlights": False})])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="scratch folder (each case is written and removed there)")
    a = ap.parse_args()
    results = {}
    for preset, name, overrides in CASES:
        folder = Path(a.out) / f"{preset}-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        simulate(preset, a.seed, folder, overrides=overrides, quiet=True)
        stats = mechanism_stats(folder)
        results[f"{preset}/{name}"] = {"stats": {k: round(stats[k], 4) for k in STATS.values()},
                                       "highlights": {k: round(v, 4) for k, v in highlight_stats(folder).items()}}
        print(f"{preset}/{name}", json.dumps(results[f"{preset}/{name}"]), flush=True)
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
