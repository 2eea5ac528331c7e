"""Moment&Cross part 2 (baselines/moment_cross/cross.py): the searched sequences read only what was known
before the sample, the search picks the most similar events, the alignment loss, switching each sequence off,
and the model on a batch (`check` runs a tiny fit: tests/test_check.py)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from baselines.moment_cross.cross import ENGAGEMENT, MIXED, SEQUENCES, Cross, align_loss, read_sequences
from baselines.moment_cross.model import MomentCrossNet
from benchmark.check import DATASET
from benchmark.features import FeatureStore
from benchmark.features.sequences import KINDS
from benchmark.features.view import FeatureView, FitClock
from benchmark.runner import split_periods

LENGTH, POOL = 5, 12


@pytest.fixture(scope="module")
def view(tiny_data):
    periods = split_periods(tiny_data, DATASET)
    store = FeatureStore.open(tiny_data / "features" / DATASET, tiny_data / "processed" / DATASET)
    return FeatureView(store, periods, FitClock(periods["test"][0]))


def test_every_sequence_holds_only_events_known_strictly_before_the_sample(view, tiny_data):
    """Each sequence equals the one built by hand from the event log's known times: the latest events known
    strictly before t (an event at t, or one not yet revealed at t, is left out), of its kinds and streamer."""
    valid = pq.read_table(tiny_data / "tasks" / DATASET / "ctr" / "valid.parquet").to_pandas()
    rows = valid.iloc[np.random.default_rng(0).choice(len(valid), 200, replace=False)]
    users, streamers, ts = (rows[c].to_numpy() for c in ("user_id", "streamer_id", "ts"))
    got = read_sequences(view, users, streamers, ts, SEQUENCES, LENGTH, POOL)
    log = view.event_log()
    by_user = {int(u): i for i, u in enumerate(log.user_ids)}
    kind_of = {"short": ("click",), "long": ("click",), "aidhard": ("click",), "livelong": ENGAGEMENT, "mixed": MIXED}
    checked = 0
    for j, (u, s, t) in enumerate(zip(users, streamers, ts, strict=True)):
        lo, hi = (log.offsets[by_user[u]], log.offsets[by_user[u] + 1]) if u in by_user else (0, 0)
        known = {k: v[lo:hi] for k, v in log.columns.items()}
        for name in SEQUENCES:
            size = POOL if name in ("long", "livelong") else LENGTH
            keep = (known["ts"] < t) & np.isin(known["kind"], [KINDS.index(k) for k in kind_of[name]])
            if name == "aidhard":
                keep &= known["streamer_id"] == s
            want = view.encode("streamer_id", known["streamer_id"][keep][-size:])
            row = got.streamer[name][j]
            assert np.array_equal(row[row >= 0], want), (name, j)
            checked += want.size
    assert checked > 0


def test_the_search_picks_the_events_most_similar_to_the_candidate():
    cross = Cross(("long",), 4, 8, 2, k=2, temperature=0.1)
    candidate = torch.tensor([[1.0, 0, 0, 0]])
    items = torch.tensor([[[0.1, 0, 0, 0], [5.0, 0, 0, 0], [3.0, 0, 0, 0], [9.0, 0, 0, 0]]])
    mask = torch.tensor([[True, True, True, False]])      # the most similar one is padding
    assert sorted(cross.search(candidate, items, mask)[0].tolist()) == [1, 2]


def test_the_alignment_loss_is_lowest_for_aligned_pairs():
    torch.manual_seed(0)
    anchor, ok = torch.randn(32, 8), torch.ones(32, dtype=torch.bool)
    same = align_loss(anchor, ok, anchor, ok, 0.1)
    near = align_loss(anchor, ok, anchor + 0.05 * torch.randn(32, 8), ok, 0.1)
    shuffled = align_loss(anchor, ok, anchor[torch.randperm(32)], ok, 0.1)
    unrelated = align_loss(anchor, ok, torch.randn(32, 8), ok, 0.1)
    assert same <= near < min(shuffled, unrelated) and min(shuffled, unrelated) > 10 * near
    assert float(align_loss(anchor, torch.zeros(32, dtype=torch.bool), anchor, ok, 0.1)) == 0.0  # no pair: no loss


def batch(n: int = 64, length: int = 6) -> dict:
    g = torch.Generator().manual_seed(1)
    out = {}
    for name in SEQUENCES:
        size = 2 * length if name in ("long", "livelong") else length
        streamer = torch.randint(0, 30, (n, size), generator=g)
        streamer[:, : size // 3] = -1                       # padding on the left, as read_sequences writes it
        streamer[0] = -1                                   # a sample with an empty sequence
        out[name] = (streamer, torch.randint(0, len(KINDS), (n, size), generator=g),
                     torch.randint(0, 24, (n, size), generator=g))
    return out


@pytest.mark.parametrize("off", [None, *SEQUENCES])
def test_forward_and_backward_with_each_sequence_switched_off(off):
    names = tuple(s for s in SEQUENCES if s != off)
    torch.manual_seed(0)
    sizes = [40, 30, 3, 5, 24, 7]
    net = MomentCrossNet(sizes, 4, np.zeros(4, np.float32), np.ones(4, np.float32), ("click", "gift", "watch_s"),
                         "ple", 8, [16], [8], 4, 2, 1, 2, False, names, 2, 3, 0.1)
    sparse = torch.stack([torch.randint(0, s, (64,)) for s in sizes], dim=1)
    out, align = net.outputs(sparse, torch.randn(64, 4), batch(), align=True)
    assert set(net.cross.attend) == set(names)
    assert out["click"][0].shape == (64,) and torch.all(out["click"][0] <= 0)
    loss = sum(o[0].mean() if isinstance(o, tuple) else o.mean() for o in out.values()) + align
    loss.backward()
    unused = [n for n, p in net.named_parameters() if p.grad is None]
    assert not unused
    assert (float(align.detach()) > 0) == ("mixed" in names)       # the anchor gone, nothing to align
