"""Moment&Cross (Cao et al., arXiv 2408.05709): the multi-task base (MMoE, CGC, PLE), Moment and Cross.

`model.py` holds the estimator, `inputs.py` what it reads from the feature view, `experts.py` the multi-task
modules, `cross.py` the searched sequences (GSU, ESU, alignment) and `losses.py` the training objectives
(entire-space, L_moment, L_fast + L_slow).
"""

from baselines.moment_cross.model import MomentCross, fused_score

__all__ = ["MomentCross", "fused_score"]
