"""The leaderboard: collect every run into results.json, then render tables and plots from it alone (spec §7).

`collect` reads run directories, significance.json, the split manifest and the ingest report into
results.json; `view` groups one task's runs and holds the board's own rules (budgets, the reference
rule, the audit); `render` and `plot` turn results.json into markdown (tabulate) and PNG figures, so
every number on the published pages is regenerated from results.json and never typed; `stage` is the
DVC stage. docs/leaderboard.md describes the pages.
"""

from benchmark.leaderboard.collect import collect_results, collect_runs, data_card, reference_rows
from benchmark.leaderboard.render import render, render_index, render_task
from benchmark.leaderboard.stage import leaderboard_stage
from benchmark.leaderboard.view import audit, budget, reference_rule

__all__ = ["audit", "budget", "collect_results", "collect_runs", "data_card", "leaderboard_stage",
           "reference_rows", "reference_rule", "render", "render_index", "render_task"]
