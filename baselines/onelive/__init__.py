"""OneLive (Wang et al., arXiv 2602.08612), the first generative recommender deployed for live streaming, on
the topk task: dynamic semantic ids (tokenizer.py), a time-aware gated decoder with QK norm and multi-token
prediction (decoder.py), beam search constrained to the live ids (trie.py), the model (model.py), its alignment
to a multi-objective reward by GRPO or DPO (align.py).
docs/onelive.md says what is the paper's and what is ours."""

from baselines.onelive.align import AlignedOneLive
from baselines.onelive.model import OneLive

__all__ = ["AlignedOneLive", "OneLive"]
