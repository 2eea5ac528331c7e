"""Moment&Cross (Cao et al., arXiv 2408.05709), part 1: the multi-task base (MMoE, CGC, PLE) and Moment.

`model.py` holds the estimator, `inputs.py` what it reads from the feature view, `experts.py` the multi-task
modules and `losses.py` the training objectives (entire-space, L_moment, L_fast + L_slow).
"""

from baselines.moment_cross.model import MomentCross, fused_score

__all__ = ["MomentCross", "fused_score"]
