"""Every fix RecBole 1.2.1 needs on today's stack (numpy 2, torch >= 2.6, scipy >= 1.13), in one place.

`apply()` must run before `recbole` is imported; it is idempotent. pandas stays < 3 (pinned in
constraints.txt): RecBole's in-place fillna silently does nothing under copy-on-write, and no shim
can make that safe.
"""

from __future__ import annotations

import os
import warnings

_APPLIED = False


def apply() -> None:
    """Install the shims (see the comment on each)."""
    global _APPLIED
    if _APPLIED:
        return
    import numpy as np
    import scipy.sparse as sp

    # numpy 2 removed these aliases; RecBole's Config uses np.float_ and ray's import uses np.bool8.
    for name, alias in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_),
                        ("bool8", np.bool_)):
        if not hasattr(np, name):
            setattr(np, name, alias)
    # torch >= 2.6 loads with weights_only=True; RecBole's checkpoints hold its Config object, so
    # trainer.evaluate(load_best_model=True) raises UnpicklingError without this. The checkpoints are
    # the run's own files, written seconds earlier in its work directory.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    # scipy >= 1.13 dropped dok_matrix._update, which LightGCN/NGCF/... call to fill the adjacency
    # matrix; the dict it updated is now `_dict`.
    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = lambda self, data: self._dict.update(data)
    # RecBole's in-place fillna warns under pandas 2.x (it still works there; pandas 3 is excluded) and its
    # trainer builds torch.cuda.amp.GradScaler the deprecated way: both warn once per column/run, noise only.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\.")
    _APPLIED = True
