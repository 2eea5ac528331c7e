"""The funnel: click, watch, like/comment, gift with their timestamps, each sampled from
benchmark.sim.oracle.Truth, the events no kept user logs, and the all-four-behaviours user selection."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmark.io import log
from benchmark.sim.feed import Exposures
from benchmark.sim.oracle import T1_MS, Truth
from benchmark.sim.presets import SimParams


@dataclass
class Events:
    """One kind's in-room events (at most one per click): the click each follows (index into the clicks),
    its timestamp, and for gifts the price."""

    click: np.ndarray
    ts: np.ndarray
    price: np.ndarray | None = None


@dataclass
class Funnel:
    """The funnel's draws over every exposure (p_click, in_hl, clicked) and every click (cidx: the clicked
    exposures; watch, engaged), the three event kinds, and the oracle's per-click quantities."""

    p_click: np.ndarray
    in_hl: np.ndarray
    clicked: np.ndarray
    cidx: np.ndarray
    watch: np.ndarray
    engaged: np.ndarray
    events: dict[str, Events] = field(default_factory=dict)  # comment, like, gift
    oracle: dict[str, np.ndarray] = field(default_factory=dict)

    def free_exposures(self) -> None:
        """Drop the exposure-level arrays (the release keeps only the kept users' part)."""
        self.p_click = self.in_hl = self.clicked = np.zeros(0)


@dataclass
class Unlogged:
    """Events from entries the log missed (release_quirks): pool user and room, time, kind (0 comment,
    1 like, 2 gift) and price (0 unless a gift)."""

    user: np.ndarray
    room: np.ndarray
    ts: np.ndarray
    kind: np.ndarray
    price: np.ndarray


def sample_prices(p: SimParams, rng: np.random.Generator, truth: Truth, ui: np.ndarray,
                  match: np.ndarray | None = None) -> np.ndarray:
    """gift_price = unit price (a mixture over real-looking price points tilted by the user and, with
    match_value, by the user-room match) x count."""
    probs = truth.unit_probs(ui, match)
    cdf = np.cumsum(probs, axis=1)
    unit = np.minimum((rng.random(ui.size)[:, None] > cdf).sum(axis=1), probs.shape[1] - 1)
    count = rng.choice(np.asarray(p.gift_counts), size=ui.size, p=truth.count_probs)
    return (np.asarray(p.price_units, dtype=np.int64)[unit] * count).astype(np.int64)


def run_funnel(p: SimParams, rng: np.random.Generator, truth: Truth, ex: Exposures) -> Funnel:
    """Click, watch, comment/like/gift and their timestamps, each sampled from the Truth's functions."""
    c = truth.context(ex.user, ex.room, ex.t)
    p_click = truth.click_prob(c)
    clicked = rng.random(p_click.size) < p_click
    cidx = np.nonzero(clicked)[0]
    cc = c.take(cidx)
    q = truth.engage_prob(cc)
    engaged = rng.random(cidx.size) < q
    mu_e, mu_b = truth.watch_mu(cc)
    mu = np.where(engaged, mu_e, mu_b)
    sig = np.where(engaged, p.watch_engaged_sigma, p.watch_bounce_sigma)
    raw = np.exp(mu + sig * rng.standard_normal(cidx.size))
    watch = np.clip(np.rint(raw), 1, truth.time_left(cc)).astype(np.int64)
    out = Funnel(p_click.astype(np.float32), c.hl, clicked, cidx, watch, engaged)
    oracle = {"exp_watch_ms": truth.expected_watch(cc)}
    for kind in ("comment", "like", "gift"):
        pe, pb = truth.event_probs(cc, kind)
        has = rng.random(cidx.size) < np.where(engaged, pe, pb)
        on = np.nonzero(has)[0]
        snap = rng.random(on.size) < (p.snap_share if p.snap_timestamps else 0.0)
        inside = (rng.random(on.size) * watch[on]).astype(np.int64)
        ts = cc.t[on] + np.where(snap, 0, inside)
        ev = Events(on, ts)
        if kind == "gift":
            ev.price = sample_prices(p, rng, truth, cc.ui[on], cc.affinity[on])
        out.events[kind] = ev
        oracle[f"p_{kind}"] = q * pe + (1 - q) * pb
    oracle["exp_gift_value"] = truth.expected_gift_value(cc)
    out.oracle = oracle
    return out


def unlogged_events(p: SimParams, rng: np.random.Generator, truth: Truth, ex: Exposures, fu: Funnel) -> Unlogged:
    """Events from entries the log missed: a skipped room later entered by a path with no click row."""
    if not p.release_quirks:
        empty = np.zeros(0, np.int64)
        return Unlogged(empty, empty, empty, np.zeros(0, np.int8), empty)
    n_s = np.int64(truth.rooms["start"].size)
    pair = ex.user * n_s + ex.room
    neg = np.nonzero(~fu.clicked)[0]
    neg = neg[rng.random(neg.size) < p.unlogged_rate]
    # Keep only pairs the user never clicked: look the (many) clicked pairs up among the (few) candidates.
    cand = np.unique(pair[neg])
    clicked = np.zeros(cand.size, dtype=bool)
    if cand.size:
        cp = pair[fu.cidx]
        pos = np.minimum(np.searchsorted(cand, cp), cand.size - 1)
        clicked[pos[cand[pos] == cp]] = True
        neg = neg[~clicked[np.searchsorted(cand, pair[neg])]]
    u, r, t = ex.user[neg], ex.room[neg], ex.t[neg]
    stop = np.minimum(truth.rooms["end"][r], T1_MS)
    ts = t + 1 + (rng.random(neg.size) * np.maximum(stop - t - 1, 0)).astype(np.int64)
    kind = rng.choice(3, size=neg.size, p=[0.48, 0.46, 0.06]).astype(np.int8)
    price = np.zeros(neg.size, np.int64)
    g = kind == 2
    price[g] = sample_prices(p, rng, truth, u[g],
                             truth.match(u[g], r[g], truth.rooms["streamer"][r[g]].astype(np.int64), ts[g]))
    return Unlogged(u, r, ts, kind, price)


def select_users(p: SimParams, rng: np.random.Generator, n_pool: int, ex: Exposures, fu: Funnel, un: Unlogged,
                 quiet: bool) -> np.ndarray:
    """The sampling of KuaiLive's users: keep users who clicked, commented, liked and gifted (pool indices)."""
    cu = ex.user[fu.cidx]
    counts = [np.bincount(cu, minlength=n_pool)]
    for j, kind in enumerate(("comment", "like", "gift")):
        c = np.bincount(cu[fu.events[kind].click], minlength=n_pool)
        c += np.bincount(un.user[un.kind == j], minlength=n_pool)
        counts.append(c)
    active = np.all(np.stack(counts) > 0, axis=0) if p.active_selection else np.ones(n_pool, bool)
    passers = np.nonzero(active)[0]
    if passers.size < p.n_users:
        log(quiet, f"sim: only {passers.size} of {n_pool} simulated users did all four behaviours "
                   f"(wanted {p.n_users}); raise user_oversample")
    return np.sort(rng.permutation(passers)[:p.n_users])
