"""One RecBole model through RecBole's low-level API: Config, create_dataset, data_preparation,
get_model, get_trainer. Always inside the run's own work directory with a clean argv (RecBole's Config
parses `--key=value` from sys.argv and its trainer writes ./log_tensorboard into the working directory).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from baselines.recbole import compat
from baselines.recbole.atomic import PAD

compat.apply()

import torch  # noqa: E402  (after the shims)
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.data.interaction import Interaction  # noqa: E402
from recbole.utils import get_model, get_trainer, init_seed  # noqa: E402

DATASET_NAME = "klb"


@contextlib.contextmanager
def session(work_dir: Path) -> Iterator[None]:
    """cwd = the run's work directory, argv = just the program name, RecBole's loggers quiet."""
    argv = sys.argv
    sys.argv = argv[:1]
    logging.getLogger().setLevel(logging.WARNING)
    try:
        with contextlib.chdir(work_dir):
            yield
    finally:
        sys.argv = argv


def make_config(model: str, work_dir: Path, seed: int, device: str, quiet: bool, settings: dict[str, Any]) -> Config:
    """RecBole's Config for pre-split atomic files under work_dir/klb/, with the harness's seed."""
    work_dir = Path(work_dir).resolve()  # RecBole runs with cwd = work_dir: every path must be absolute
    base = {
        "data_path": str(work_dir), "dataset": DATASET_NAME, "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "normalize_all": False, "normalize_field": None,  # floats were scaled on train only (atomic.py)
        "seed": seed, "reproducibility": True, "use_gpu": device == "cuda", "worker": 0,
        "checkpoint_dir": str(work_dir / "saved"), "show_progress": not quiet, "learner": "adam",
    }
    base.update(settings)
    with session(work_dir):
        config = Config(model=model, dataset=DATASET_NAME, config_dict=base)
    init_seed(config["seed"], config["reproducibility"])
    return config


class Prepared:
    """RecBole's dataset and its train/valid/test dataloaders, built once from the atomic files."""

    def __init__(self, config: Config, work_dir: Path):
        self.config, self.work_dir = config, Path(work_dir).resolve()
        with session(work_dir):
            self.dataset = create_dataset(config)
            self.train_data, self.valid_data, self.test_data = data_preparation(config, self.dataset)

    def _splits(self):
        return (("train", self.train_data), ("valid", self.valid_data), ("test", self.test_data))

    def check_rows(self, field: str, values: dict[str, np.ndarray]) -> None:
        """Each split's `field` must equal `values[split]` in file row order: the proof that RecBole kept
        the atomic files' rows as written (no filtering, no re-sorting), so labels can be swapped."""
        for name, loader in self._splits():
            have = loader._dataset.inter_feat[field].numpy()
            if have.shape != np.shape(values[name]) or not np.array_equal(have, np.float32(values[name])):
                raise RuntimeError(f"RecBole's {name} split does not hold the atomic file's rows in order "
                                   f"({len(have)} rows vs {len(values[name])}): labels cannot be swapped")

    def relabel(self, field: str, values: dict[str, np.ndarray]) -> None:
        """Replace `field` in each split by `values[split]` (file row order), for the next label's model."""
        for name, loader in self._splits():
            loader._dataset.inter_feat[field] = torch.as_tensor(np.asarray(values[name], np.float32))


class Fitted:
    """A trained RecBole model with the dataset whose vocabularies map new rows onto its ids."""

    def __init__(self, config: Config, work_dir: Path, prepared: Prepared | None = None):
        self.config, self.work_dir = config, Path(work_dir).resolve()
        self.epoch_seconds: list[float] = []  # training + valid evaluation, per epoch
        prepared = prepared or Prepared(config, work_dir)
        self.dataset = prepared.dataset
        self.train_data, self.valid_data, self.test_data = prepared.train_data, prepared.valid_data, prepared.test_data
        with session(work_dir):
            init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
            self.train_data.generator.manual_seed(config["seed"])  # each model shuffles as if its loader were new
            self.model = get_model(config["model"])(config, self.train_data._dataset).to(config["device"])
            self.trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, self.model)

    def fit_early_stopped(self) -> None:
        """RecBole's own fit with early stopping on valid, then the best epoch's weights."""
        stamps = [time.perf_counter()]
        with session(self.work_dir):
            self.trainer.fit(self.train_data, self.valid_data, saved=True, verbose=False,
                             show_progress=self.config["show_progress"],
                             callback_fn=lambda epoch, score: stamps.append(time.perf_counter()))
            self.load_best()
        self.epoch_seconds = list(np.diff(stamps))

    def load_best(self) -> None:
        state = torch.load(self.trainer.saved_model_file, map_location=self.config["device"], weights_only=False)
        self.model.load_state_dict(state["state_dict"])
        self.model.load_other_parameter(state.get("other_parameter"))
        self.model.eval()

    def ids(self, field: str, values: np.ndarray) -> np.ndarray:
        """Internal ids of external tokens; a token RecBole never saw gets 0, its padding id."""
        tokens = self.dataset.field2id_token[field]
        idx = pd.Index(tokens).get_indexer(np.asarray(values).astype(str).ravel()).reshape(np.shape(values))
        return np.where(idx < 0, 0, idx)

    def interaction(self, tokens: dict[str, np.ndarray], floats: dict[str, np.ndarray] | None = None,
                    history: tuple[dict[str, np.ndarray], np.ndarray] | None = None) -> Interaction:
        """Rows in RecBole's tensor layout (what its dataloaders build), user and item features joined."""
        data: dict[str, torch.Tensor] = {}
        for name, v in tokens.items():
            data[name] = torch.as_tensor(self.ids(name, v), dtype=torch.long)
        for name, v in (floats or {}).items():  # numerical features are (value, 1) pairs in RecBole
            v = torch.as_tensor(np.asarray(v, np.float32))
            data[name] = torch.stack([v, torch.ones_like(v)], dim=1)
        if history is not None:  # {list field: left-aligned item matrix (-1 pads)}, lengths
            seqs, counts = history
            empty = counts == 0  # an empty history is the single PAD token, as the atomic files write it
            pad_id = self.ids(self.dataset.iid_field, np.array([PAD]))[0]
            for name, items in seqs.items():
                ids = np.where(items >= 0, self.ids(self.dataset.iid_field, items), 0)
                ids[empty, 0] = pad_id
                data[name] = torch.as_tensor(ids, dtype=torch.long)
            data[self.dataset.item_list_length_field] = torch.as_tensor(np.maximum(counts, 1), dtype=torch.long)
        return self.dataset.join(Interaction(data))

    @torch.no_grad()
    def predict(self, inter: Interaction, batch_size: int) -> np.ndarray:
        """model.predict over batches, in row order."""
        self.model.eval()
        out = [self.model.predict(inter[i:i + batch_size].to(self.config["device"])).float().cpu().numpy()
               for i in range(0, len(inter), batch_size)]
        return np.concatenate(out) if out else np.zeros(0)

    @torch.no_grad()
    def full_sort(self, inter: Interaction) -> np.ndarray:
        """full_sort_predict: (n, n_items) scores over RecBole's whole item vocabulary."""
        self.model.eval()
        scores = self.model.full_sort_predict(inter.to(self.config["device"]))
        return scores.view(len(inter), -1).float().cpu().numpy()
