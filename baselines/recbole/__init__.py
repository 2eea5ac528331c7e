"""RecBole 1.2.1's models wrapped behind the baseline interface (see models.py; shims in compat.py)."""

from baselines.recbole.models import ContextModel, RankingModel

__all__ = ["ContextModel", "RankingModel"]
