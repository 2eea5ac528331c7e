"""KuaiLive-Bench: the harness (data, split, tasks, features, metrics, significance, leaderboard)."""

__version__ = "0.1.0"
