"""KuaiLive-Sim's generative model of live streaming (docs/simulator.md writes it out).

Streamers (popularity, category, latent factors, a daily schedule of broadcast blocks made of short
rooms) -> rooms (lifecycles, highlight windows, titles) -> users (tastes, activity, daily rhythm,
favourites) -> sessions of feed requests -> the room each request shows -> the funnel click -> watch
-> like/comment -> gift, sampled from benchmark.sim.oracle.Truth -> the all-four-behaviours user
selection -> the release tables (profiles, ids, room rows per p_date, release quirks).
Everything is vectorised numpy; one seeded SeedSequence feeds one generator per stage.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from scipy.special import expit, ndtr, ndtri
from tqdm import tqdm

from benchmark.data import schema
from benchmark.data.schema import DAY_MS
from benchmark.io import log
from benchmark.sim.oracle import (
    CAP_MS,
    MINUTE_MS,
    N_DAYS,
    STREAMER_PROFILE,
    T0_MS,
    T1_MS,
    T_BASE_MS,
    THREADS,
    USER_PROFILE,
    Context,
    Truth,
    interval_key,
    last_le,
    packed_argsort,
    parallel_chunks,
)
from benchmark.sim.presets import CATEGORIES, SimParams, to_dict

HOUR_MS = 3_600_000
STAGES = ("streamers", "rooms", "highlights", "users", "favourites", "sessions", "feed", "funnel",
          "quirks", "selection", "titles", "ids", "side", "mismatch")
VERSION = "kuailive-sim-1"
POP_OFF_Z = 0.8  # popularity_tail off: every streamer's popularity z-score (about the exposure-weighted mean)


# --- small vectorised helpers ---------------------------------------------------------------------
def sample_hours(rng: np.random.Generator, profile, n: int, peaked: bool = True) -> np.ndarray:
    """Clock hours in [0, 24) from a wrapped-normal mixture profile (uniform when not peaked)."""
    if not peaked:
        return rng.random(n) * 24.0
    w = np.array([c[2] for c in profile])
    comp = rng.choice(len(profile), size=n, p=w / w.sum())
    centre = np.array([c[0] for c in profile])[comp]
    sd = np.array([c[1] for c in profile])[comp]
    return (centre + sd * rng.standard_normal(n)) % 24.0


def seg_exclusive_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Within consecutive segments of the given lengths, the cumulative sum before each element."""
    cs = np.cumsum(values)
    first = np.cumsum(counts) - counts
    before = (cs - values)[first]
    return cs - values - np.repeat(before, counts)


def seg_positions(counts: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """0, 1, ..., k-1 within consecutive segments of the given lengths."""
    total = int(counts.sum())
    first = (np.cumsum(counts) - counts).astype(dtype)
    out = np.arange(total, dtype=dtype)
    out -= np.repeat(first, counts)
    return out


def running_max_prev(keys: np.ndarray) -> np.ndarray:
    """For each position, the max of keys strictly before it (int64 min for the first)."""
    out = np.empty_like(keys)
    out[0] = np.iinfo(np.int64).min
    if keys.size > 1:
        out[1:] = np.maximum.accumulate(keys[:-1])
    return out


def beta_with_mean(rng: np.random.Generator, mean: float, n: int, strength: float = 4.0) -> np.ndarray:
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    return rng.beta(strength * mean, strength * (1 - mean), n)


def sparse_ids(rng: np.random.Generator, n: int, mean_gap: int = 2, base: int = 0) -> np.ndarray:
    """n distinct random-looking non-contiguous int64 ids (increasing gaps, then shuffled)."""
    vals = base + np.cumsum(rng.integers(1, 2 * mean_gap, size=n, dtype=np.int64))
    return vals[rng.permutation(n)]


# --- the world --------------------------------------------------------------------------------------
@dataclass
class World:
    """The latent state in pool index space (all streamers, every room, every simulated user)."""

    streamers: dict[str, np.ndarray]
    V: np.ndarray
    centroids: np.ndarray
    rooms: dict[str, np.ndarray]
    room_key: np.ndarray
    hl_key: np.ndarray
    hl_end: np.ndarray
    users: dict[str, np.ndarray]
    U: np.ndarray
    fav: np.ndarray

    def truth(self, p: SimParams) -> Truth:
        return Truth(p, self.users, self.U, self.streamers, self.V, self.rooms, self.hl_key, self.hl_end,
                     self.fav)


def make_streamers(p: SimParams, rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
    """Category, log popularity, latent factors clustered by category, preferred hour, title counts."""
    n, d, k = p.n_streamers, p.latent_dim, len(CATEGORIES)
    shares = np.asarray(p.category_shares)
    cat = rng.choice(k, size=n, p=shares / shares.sum()).astype(np.int8)
    # Orthogonal category centroids of norm sqrt(d): the same geometry for every seed and size.
    q, _ = np.linalg.qr(rng.standard_normal((d, max(d, k))))
    centroids = (q[:, :k].T if d >= k else rng.standard_normal((k, d)) / np.sqrt(d)) * np.sqrt(d)
    rho = p.category_weight if p.category_clusters else 0.0
    V = (np.sqrt(rho) * centroids[cat] + np.sqrt(1 - rho) * rng.standard_normal((n, d))).astype(np.float32)
    z = rng.standard_normal(n)
    if not p.popularity_tail:
        # Everyone as popular as a typical exposed streamer, so overall click rates stay comparable.
        z = np.full(n, POP_OFF_Z)
    log_pop = (p.pop_sigma * z).astype(np.float32)
    hour = sample_hours(rng, STREAMER_PROFILE, n, p.daily_peak)
    p_day = expit(p.stream_day_base + p.stream_day_pop * z + p.stream_day_sigma * rng.standard_normal(n))
    type_probs = np.array([0.82, 0.08, 0.06, 0.04])
    main_type = (1 + rng.choice(4, size=n, p=type_probs)).astype(np.int8)
    main_type[(cat == CATEGORIES.index("game")) & (rng.random(n) < 0.5)] = 3
    n_titles = 1 + rng.poisson(p.titles_extra, n).astype(np.int64)
    st = {"category": cat, "log_pop": log_pop, "z_pop": z.astype(np.float32), "hour": hour, "p_day": p_day,
          "live_type": main_type, "n_titles": n_titles, "title_first": np.cumsum(n_titles) - n_titles}
    return st, V, centroids


def make_rooms(p: SimParams, rng: np.random.Generator, st: dict) -> tuple[dict, np.ndarray]:
    """Each streamer streams on some days a block of back-to-back short rooms from (about) its preferred hour.

    Returns the rooms sorted by (streamer, start), none overlapping within a streamer, and their
    sorted look-up keys interval_key(streamer, start).
    """
    n = p.n_streamers
    days = np.arange(-1, N_DAYS)
    on = rng.random((n, days.size), dtype=np.float32) < st["p_day"][:, None].astype(np.float32)
    b_s, b_d = np.nonzero(on)
    nb = b_s.size
    if p.daily_rhythm:
        h = (st["hour"][b_s] + p.start_jitter_h * rng.standard_normal(nb)) % 24.0
    else:
        h = sample_hours(rng, STREAMER_PROFILE, nb, p.daily_peak)
    b_start = T0_MS + days[b_d].astype(np.int64) * DAY_MS + (h * HOUR_MS).astype(np.int64)
    k = 1 + np.minimum(rng.poisson(p.rooms_per_block, nb), p.max_rooms_per_block - 1)
    nr = int(k.sum())
    z = rng.standard_normal(nr, dtype=np.float32)
    dur = np.exp(np.float32(np.log(p.room_median_min * MINUTE_MS)) + np.float32(p.room_sigma) * z)
    dur = np.clip(dur, MINUTE_MS, p.room_max_h * HOUR_MS).astype(np.int64)
    rng.standard_normal(nr, dtype=np.float32, out=z)
    gap = np.exp(np.float32(np.log(p.room_gap_median_min * MINUTE_MS)) + np.float32(0.8) * z).astype(np.int64)
    del z
    gap += dur
    start = seg_exclusive_cumsum(gap, k)  # exact: int64 milliseconds
    del gap
    start += np.repeat(b_start, k)
    end = np.minimum(start + dur, CAP_MS)
    del dur
    s = np.repeat(b_s.astype(np.int32), k)
    keep = np.nonzero((end > T0_MS) & (start < T1_MS))[0]
    start, end, s = start[keep], end[keep], s[keep]
    # Drop rooms that would overlap an earlier room of the same streamer (a long block meeting the next day's).
    start_key = interval_key(s, start)
    ok = np.nonzero(start_key >= running_max_prev(interval_key(s, end)))[0]
    start, end, s, start_key = start[ok], end[ok], s[ok], start_key[ok]
    nr = start.size
    live_type = st["live_type"][s].copy()
    other = rng.random(nr) < 0.1
    live_type[other] = (1 + rng.integers(0, 4, int(other.sum()))).astype(np.int8)
    rooms = {"streamer": s, "start": start, "end": end, "live_type": live_type}
    return rooms, start_key


def make_highlights(p: SimParams, rng: np.random.Generator, rooms: dict,
                    subset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson highlight windows (minutes long, non-overlapping) in the rooms `subset` (sorted indices).

    Returns keys interval_key(room, start) sorted by (room, start) and the windows' ends. Only rooms
    that can matter (exposed or written) get windows drawn, in a fixed order, so a room's windows do
    not depend on the rest of the run.
    """
    dur = (rooms["end"][subset] - rooms["start"][subset]).astype(np.float64)
    m = rng.poisson(p.highlight_rate_per_h * dur / HOUR_MS)
    has = np.nonzero(m)[0]
    m = m[has].astype(np.int64)
    if has.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Sorted uniform positions per room from exponential spacings (no sort needed).
    e = rng.exponential(size=int((m + 1).sum()))
    cs = np.cumsum(e)
    last = np.cumsum(m + 1) - 1
    first = last - m
    before = (cs - e)[first]
    total = cs[last] - before
    pos = (cs - np.repeat(before, m + 1)) / np.repeat(total, m + 1)
    is_last = np.zeros(e.size, dtype=bool)
    is_last[last] = True
    pos = pos[~is_last]
    j = np.repeat(has, m)
    r = subset[j]
    h_start = rooms["start"][r] + (pos * dur[j]).astype(np.int64)
    length = np.exp(np.log(p.highlight_median_min * MINUTE_MS) + p.highlight_sigma * rng.standard_normal(r.size))
    h_end = np.minimum(h_start + length.astype(np.int64), rooms["end"][r])
    key = interval_key(r, h_start)
    ok = (h_end > h_start) & (key >= running_max_prev(interval_key(r, h_end)))
    return key[ok], h_end[ok]


def add_highlights(p: SimParams, rng: np.random.Generator, w: World, exposed: np.ndarray) -> None:
    """Draw the highlight windows of exposed rooms (and, touched_rooms_only off, of every other room after)."""
    key, end = make_highlights(p, rng, w.rooms, np.nonzero(exposed)[0])
    if not p.touched_rooms_only:
        k2, e2 = make_highlights(p, rng, w.rooms, np.nonzero(~exposed)[0])
        key, end = np.concatenate([key, k2]), np.concatenate([end, e2])
        order = np.argsort(key, kind="stable")
        key, end = key[order], end[order]
    w.hl_key, w.hl_end = key, end


def make_users(p: SimParams, rng: np.random.Generator, centroids: np.ndarray) -> tuple[dict, np.ndarray]:
    """Tastes, factors, activity, daily rhythm and behavioural propensities of every simulated user."""
    n = int(np.ceil(p.n_users * p.user_oversample))
    k, d = centroids.shape
    shares = np.asarray(p.category_shares)
    taste = rng.dirichlet(p.taste_concentration * k * shares, size=n)
    rho = p.category_weight if p.category_clusters else 0.0
    mix = (taste @ centroids) / np.linalg.norm(taste, axis=1, keepdims=True)
    U = (np.sqrt(rho) * mix + np.sqrt(1 - rho) * rng.standard_normal((n, d))).astype(np.float32)
    if p.activity_tail:
        # Lognormal with mean requests_per_user, truncated below at min_requests (users are drawn among actives).
        mu = np.log(p.requests_per_user) - p.activity_sigma**2 / 2
        lo = ndtr((np.log(max(p.min_requests, 1e-9)) - mu) / p.activity_sigma)
        requests = np.exp(mu + p.activity_sigma * ndtri(lo + (1 - lo) * rng.random(n)))
    else:
        requests = np.full(n, max(p.requests_per_user, p.min_requests))
    social = rng.standard_normal(n)
    z_gift = rng.standard_normal(n)
    if p.gift_concentration:
        whale = rng.random(n) < p.gift_whale_share
        omega = rng.standard_normal(n)  # how heavy a whale is: more gifts and dearer ones
        gift = p.gift_user_sigma * z_gift + whale * (p.gift_whale_boost + p.gift_whale_sigma * omega)
        tilt = (p.price_tilt_base + p.price_tilt_slope * z_gift + whale * (p.price_tilt_whale
                                                                            + p.price_tilt_whale_slope * omega)
                + p.price_tilt_sigma * rng.standard_normal(n))
    else:
        whale = np.zeros(n, dtype=bool)
        gift = 0.3 * z_gift
        tilt = np.full(n, p.price_tilt_base)
    users = {
        "bias": p.click_user_sigma * rng.standard_normal(n),
        "engage": p.engage_user_sigma * rng.standard_normal(n),
        "comment": p.comment_user_sigma * (0.6 * social + 0.8 * rng.standard_normal(n)),
        "like": p.like_user_sigma * (0.6 * social + 0.8 * rng.standard_normal(n)),
        "gift": gift,
        "price_tilt": tilt,
    }
    users = {key: v.astype(np.float32) for key, v in users.items()}
    users.update({
        "taste": taste, "requests": requests, "z_gift": z_gift + 2.5 * whale, "social": social, "whale": whale,
        "hour": sample_hours(rng, USER_PROFILE, n, p.daily_peak),
        "active_share": beta_with_mean(rng, p.active_day_share, n),
        "fav_share": beta_with_mean(rng, p.fav_share, n, strength=8.0),
    })
    return users, U


def circ_hours(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a - b + 12.0) % 24.0 - 12.0)


def make_favourites(p: SimParams, rng: np.random.Generator, users: dict, U: np.ndarray, st: dict,
                    V: np.ndarray) -> np.ndarray:
    """A few favourite streamers per user: popular, matching the user's taste and (rhythm on) hours.

    Returns the padded (n_users, max_favourites) matrix of streamer indices (-1 = none).
    """
    n, F, M = U.shape[0], p.max_favourites, p.fav_pool
    fav = np.full((n, F), -1, dtype=np.int64)
    if not p.favourites:
        return fav
    n_fav = np.minimum(F, 1 + rng.poisson(max(p.n_favourites - 1, 0), n))
    w = np.cumsum(np.exp(0.5 * st["log_pop"].astype(np.float64)))
    u = rng.random((n, M))
    u.sort(axis=1)  # sorted draws -> sorted candidates, duplicates adjacent
    cand = np.searchsorted(w, (u * w[-1]).ravel(), side="right").clip(0, p.n_streamers - 1).reshape(n, M)
    del u
    flat_u = np.repeat(np.arange(n), M)
    aff = (U[flat_u] * V[cand.ravel()]).sum(axis=1, dtype=np.float64).reshape(n, M) / np.sqrt(U.shape[1])
    score = p.fav_affinity * aff + rng.gumbel(size=(n, M))
    if p.daily_rhythm:
        dist = circ_hours(users["hour"][:, None], st["hour"][cand])
        score -= 0.5 * (dist / p.fav_hour_sigma_h) ** 2
    score[:, 1:][cand[:, 1:] == cand[:, :-1]] = -np.inf
    top = np.argsort(-score, axis=1, kind="stable")[:, :F]
    chosen = np.take_along_axis(cand, top, axis=1)
    return np.where(np.arange(F)[None, :] < n_fav[:, None], chosen, -1)


def make_world(p: SimParams, rngs: dict[str, np.random.Generator]) -> World:
    st, V, centroids = make_streamers(p, rngs["streamers"])
    rooms, room_key = make_rooms(p, rngs["rooms"], st)
    users, U = make_users(p, rngs["users"], centroids)
    fav = make_favourites(p, rngs["favourites"], users, U, st, V)
    empty = np.zeros(0, np.int64)
    return World(st, V, centroids, rooms, room_key, empty, empty, users, U, fav)


# --- exposures -------------------------------------------------------------------------------------
def make_requests(p: SimParams, rng: np.random.Generator,
                  users: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feed requests in sessions on the user's active days at the user's hours, seconds apart.

    Returns (user, time, session) per request sorted by (time, user), and each session's start time.
    """
    n = users["requests"].size
    L = p.session_mean_len
    n_sess = np.maximum(1, rng.poisson(users["requests"] / L))
    act = rng.random((n, N_DAYS)) < users["active_share"][:, None]
    none = ~act.any(axis=1)
    act[np.nonzero(none)[0], rng.integers(0, N_DAYS, int(none.sum()))] = True
    act_u, act_d = np.nonzero(act)
    cnt = act.sum(axis=1)
    off = np.cumsum(cnt) - cnt
    su = np.repeat(np.arange(n, dtype=np.int32), n_sess)
    day = act_d[off[su] + (rng.random(su.size) * cnt[su]).astype(np.int64)]
    hour = sample_hours(rng, USER_PROFILE, su.size, p.daily_peak)
    if p.daily_rhythm:
        own = rng.random(su.size) < p.rhythm_share
        hour[own] = (users["hour"][su[own]] + p.rhythm_sigma_h * rng.standard_normal(int(own.sum()))) % 24.0
    s_start = T0_MS + day.astype(np.int64) * DAY_MS + (hour * HOUR_MS).astype(np.int64)
    length = rng.geometric(1.0 / L, su.size).astype(np.int64)
    sess = np.repeat(np.arange(su.size, dtype=np.int32), length)
    gaps = np.exp(np.log(p.gap_median_s * 1000.0) + p.gap_sigma * rng.standard_normal(sess.size))
    t = s_start[sess] + seg_exclusive_cumsum(gaps, length).astype(np.int64)
    keep = np.nonzero(t < T1_MS)[0]
    order = keep[packed_argsort(t[keep] - T0_MS)]  # stable: ties stay in user order
    return su[sess[order]], t[order], sess[order], s_start


def pick_favourites(p: SimParams, rng: np.random.Generator, w: World, eu: np.ndarray, t: np.ndarray,
                    sess: np.ndarray, s_start: np.ndarray) -> np.ndarray:
    """Room of a live favourite for requests that look for one first (-1: not looked or none live).

    At a session's start the user's favourites live then are listed; a request of the session looks
    there with probability fav_share (per user), picks one of them at random and shows it if still live.
    """
    room = np.full(eu.size, -1, dtype=np.int64)
    if not p.favourites:
        return room
    F = w.fav.shape[1]
    s_user = np.zeros(s_start.size, dtype=np.int64)
    s_user[sess] = eu
    used = np.zeros(s_start.size, dtype=bool)
    used[sess] = True
    su_idx = np.nonzero(used & (w.fav[s_user, 0] >= 0))[0]
    live_room = np.full((s_start.size, F), -1, dtype=np.int32)

    def column(j: int, _: int) -> None:
        sj = su_idx[w.fav[s_user[su_idx], j] >= 0]
        fs = w.fav[s_user[sj], j]
        idx = last_le(w.room_key, fs, s_start[sj])
        ok = idx >= 0
        idx = np.maximum(idx, 0)
        live = ok & (w.rooms["streamer"][idx] == fs) & (s_start[sj] < w.rooms["end"][idx])
        live_room[sj[live], j] = idx[live]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(lambda j: column(j, 0), range(F)))
    n_live = (live_room >= 0).sum(axis=1)
    live_room = -np.sort(-live_room, axis=1)  # live rooms first (room indices >= 0, then the -1 padding)
    look = np.nonzero((rng.random(eu.size) < w.users["fav_share"][eu]) & (n_live[sess] > 0))[0]
    # A random one of the session's live favourites.
    k = (rng.random(look.size) * n_live[sess[look]]).astype(np.int64)
    r = live_room[sess[look], k]
    still = (w.rooms["start"][r] <= t[look]) & (t[look] < w.rooms["end"][r])
    room[look[still]] = r[still]
    return room


def feed_index(p: SimParams, w: World) -> dict[str, Any]:
    """Live-room index per (time slot, category): entries (room, slot) with feed weight, by segment.

    A room's weight in a slot is the mass of its exposure intensity there: exploitation,
    popularity ** feed_pop_exponent per slot of live time, plus (room_age) exploration, a
    popularity-free burst after the start worth fresh_boost median-popularity live minutes.
    Times are int32 ms relative to the window start; weights float32, cumulated in float64.
    """
    bin_ms = p.bin_min * MINUTE_MS
    n_bins = int(np.ceil((T1_MS - T0_MS) / bin_ms))
    k = len(CATEGORIES)
    r = w.rooms
    valid = np.nonzero((r["end"] > T0_MS) & (r["start"] < T1_MS))[0]
    lo = (np.maximum(r["start"][valid], T0_MS) - T0_MS).astype(np.int32)
    hi = (np.minimum(r["end"][valid], T1_MS) - T0_MS).astype(np.int32)
    st_rel = np.maximum(r["start"][valid] - T0_MS, -(2**31) + 1).astype(np.int32)
    s = r["streamer"][valid]
    popw = np.exp(p.feed_pop_exponent * w.streamers["log_pop"][s]).astype(np.float32)
    cat = w.streamers["category"][s].astype(np.int32)
    b_lo = lo // bin_ms
    ne = ((hi - 1) // bin_ms - b_lo + 1).astype(np.int64)
    e = np.repeat(np.arange(valid.size, dtype=np.int32), ne)  # entry -> position in `valid`
    e_bin = np.repeat(b_lo.astype(np.int32), ne)
    e_bin += seg_positions(ne, np.int32)
    del b_lo, ne
    ov_lo = np.maximum(lo[e], e_bin * np.int32(bin_ms))
    ov_hi = np.minimum(hi[e], (e_bin + 1) * np.int32(bin_ms))
    weight = popw[e] * ((ov_hi - ov_lo).astype(np.float32) / np.float32(bin_ms))
    if p.room_age:
        tau = np.float32(p.fresh_tau_min * MINUTE_MS)
        age0 = (ov_lo - st_rel[e]).astype(np.float32)
        age1 = (ov_hi - st_rel[e]).astype(np.float32)
        weight += np.float32(p.fresh_boost * MINUTE_MS / bin_ms) * (np.exp(-age0 / tau) - np.exp(-age1 / tau))
        del age0, age1
    del ov_lo, ov_hi
    seg = e_bin * np.int32(k) + cat[e]
    del e_bin
    n_seg = n_bins * k
    order = np.argsort(seg.astype(np.uint16) if n_seg <= 65535 else seg, kind="stable")
    seg_off = np.concatenate([[0], np.cumsum(np.bincount(seg, minlength=n_seg))])
    del seg
    cum = np.empty(order.size + 1, dtype=np.float64)
    cum[0] = 0.0
    np.cumsum(weight[order], dtype=np.float64, out=cum[1:])
    del weight
    return {"room": valid[e[order]].astype(np.int64), "cum": cum, "seg_off": seg_off, "n_bins": n_bins,
            "bin_ms": bin_ms}


def _propose(rng: np.random.Generator, idx: dict, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One proposal per request: an index entry drawn by feed weight within [lo, hi) of the request's slot."""
    cum, seg_off, k = idx["cum"], idx["seg_off"], len(CATEGORIES)
    target = cum[lo] + rng.random(b.size) * (cum[hi] - cum[lo])
    pick = np.empty(b.size, dtype=np.int64)
    order = packed_argsort(b)
    bounds = np.searchsorted(b[order], np.arange(idx["n_bins"] + 1))
    bins = np.nonzero(np.diff(bounds))[0]

    def work(a: int, z: int) -> None:
        for j in bins[a:z]:
            sel = order[bounds[j]:bounds[j + 1]]
            e_lo, e_hi = seg_off[j * k], seg_off[j * k + k]
            pick[sel] = np.searchsorted(cum[e_lo:e_hi + 1], target[sel], side="right") - 1 + e_lo

    parallel_chunks(work, bins.size, min_chunk=64)
    return idx["room"][np.clip(pick, lo, np.maximum(hi - 1, lo))].astype(np.int64)


def pick_feed(p: SimParams, rng: np.random.Generator, w: World, eu: np.ndarray, t: np.ndarray,
              quiet: bool) -> tuple[np.ndarray, np.ndarray]:
    """Room shown to each feed request: category from the user's taste, then proposals by feed weight.

    The first proposal live at the request time is shown (up to feed_proposals tries); if none is,
    the first proposal is shown at a uniform time of its live part of the slot. Returns (room, time);
    room -1 = no room at all in the slot.
    """
    idx = feed_index(p, w)
    k = len(CATEGORIES)
    bin_ms, seg_off = idx["bin_ms"], idx["seg_off"]
    b = (t - T0_MS) // bin_ms
    cum_taste = np.cumsum(w.users["taste"], axis=1).astype(np.float32)
    cat = np.empty(eu.size, dtype=np.int64)
    for a in range(0, eu.size, 1 << 21):
        z = slice(a, min(a + (1 << 21), eu.size))
        u = rng.random(z.stop - a, dtype=np.float32)
        cat[z] = np.minimum((u[:, None] > cum_taste[eu[z]]).sum(axis=1), k - 1)
    seg = b * k + cat
    lo, hi = seg_off[seg], seg_off[seg + 1]
    empty = hi == lo
    lo[empty], hi[empty] = seg_off[b[empty] * k], seg_off[b[empty] * k + k]
    first = _propose(rng, idx, b, lo, hi)
    chosen = first.copy()
    todo = np.nonzero((w.rooms["start"][first] > t) | (t >= w.rooms["end"][first]))[0]
    for _ in range(p.feed_proposals - 1):
        if todo.size == 0:
            break
        cand = _propose(rng, idx, b[todo], lo[todo], hi[todo])
        live = (w.rooms["start"][cand] <= t[todo]) & (t[todo] < w.rooms["end"][cand])
        chosen[todo[live]] = cand[live]
        todo = todo[~live]
    # Nothing live at the request time: show the first proposal at a time it is live within the slot.
    r = first[todo]
    slot_lo = np.maximum(w.rooms["start"][r], T0_MS + b[todo] * bin_ms)
    slot_hi = np.minimum(w.rooms["end"][r], np.minimum(T0_MS + (b[todo] + 1) * bin_ms, T1_MS))
    t_new = t.copy()
    t_new[todo] = slot_lo + (rng.random(todo.size) * (slot_hi - slot_lo)).astype(np.int64)
    chosen[hi == lo] = -1
    return chosen, t_new


def time_user_order(t: np.ndarray, user: np.ndarray) -> np.ndarray:
    """Permutation sorting by (t, user): a packed stable sort on t, then ties in t put in user order."""
    order = packed_argsort(t - T_BASE_MS)
    ts = t[order]
    tie = np.nonzero(ts[1:] == ts[:-1])[0]
    if tie.size:
        pos = np.unique(np.concatenate([tie, tie + 1]))
        sub = order[pos]
        order[pos] = sub[np.lexsort((user[sub], t[sub]))]
    return order


def make_exposures(p: SimParams, rngs: dict, w: World, quiet: bool) -> dict[str, np.ndarray]:
    """Requests -> shown rooms; exposures sorted by (time, user) with unique (user, time) keys."""
    eu, t, sess, s_start = make_requests(p, rngs["sessions"], w.users)
    room = pick_favourites(p, rngs["feed"], w, eu, t, sess, s_start)
    del sess, s_start
    via_fav = room >= 0
    feed = np.nonzero(~via_fav)[0]
    fr, ft = pick_feed(p, rngs["feed"], w, eu[feed], t[feed], quiet)
    room[feed], t[feed] = fr, ft
    ok = np.nonzero(room >= 0)[0]
    order = ok[time_user_order(t[ok], eu[ok])]
    eu, t, room, via_fav = eu[order], t[order], room[order], via_fav[order]
    # (user, ms) must be unique: drop the rare exact repeats.
    dup = np.r_[False, (t[1:] == t[:-1]) & (eu[1:] == eu[:-1])]
    ok = ~dup
    return {"user": eu[ok], "room": room[ok], "t": t[ok], "via_fav": via_fav[ok]}


# --- the funnel --------------------------------------------------------------------------------------
def take(c: Context, m: np.ndarray) -> Context:
    return Context(c.ui[m], c.ri[m], c.si[m], c.t[m], c.affinity[m], c.fav[m], c.hl[m])


def sample_prices(p: SimParams, rng: np.random.Generator, truth: Truth, ui: np.ndarray) -> np.ndarray:
    """gift_price = unit price (user-tilted mixture over real-looking price points) x count."""
    probs = truth.unit_probs(ui)
    cdf = np.cumsum(probs, axis=1)
    unit = np.minimum((rng.random(ui.size)[:, None] > cdf).sum(axis=1), probs.shape[1] - 1)
    count = rng.choice(np.asarray(p.gift_counts), size=ui.size, p=truth.count_probs)
    return (np.asarray(p.price_units, dtype=np.int64)[unit] * count).astype(np.int64)


def run_funnel(p: SimParams, rng: np.random.Generator, truth: Truth, ex: dict) -> dict[str, Any]:
    """Click, watch, comment/like/gift and their timestamps, each sampled from the Truth's functions."""
    c = truth.context(ex["user"], ex["room"], ex["t"])
    p_click = truth.click_prob(c)
    clicked = rng.random(p_click.size) < p_click
    cidx = np.nonzero(clicked)[0]
    cc = take(c, cidx)
    q = truth.engage_prob(cc)
    engaged = rng.random(cidx.size) < q
    mu_e, mu_b = truth.watch_mu(cc)
    mu = np.where(engaged, mu_e, mu_b)
    sig = np.where(engaged, p.watch_engaged_sigma, p.watch_bounce_sigma)
    raw = np.exp(mu + sig * rng.standard_normal(cidx.size))
    watch = np.clip(np.rint(raw), 1, truth.time_left(cc)).astype(np.int64)
    out: dict[str, Any] = {"p_click": p_click.astype(np.float32), "in_hl": c.hl, "clicked": clicked,
                           "cidx": cidx, "watch": watch, "engaged": engaged}
    oracle = {"exp_watch_ms": truth.expected_watch(cc)}
    for kind in ("comment", "like", "gift"):
        pe, pb = truth.event_probs(cc, kind)
        has = rng.random(cidx.size) < np.where(engaged, pe, pb)
        on = np.nonzero(has)[0]
        snap = rng.random(on.size) < (p.snap_share if p.snap_timestamps else 0.0)
        inside = (rng.random(on.size) * watch[on]).astype(np.int64)
        ts = cc.t[on] + np.where(snap, 0, inside)
        ev = {"click": on, "ts": ts}
        if kind == "gift":
            ev["price"] = sample_prices(p, rng, truth, cc.ui[on])
        out[kind] = ev
        oracle[f"p_{kind}"] = q * pe + (1 - q) * pb
    oracle["exp_gift_value"] = truth.expected_gift_value(cc)
    out["oracle"] = oracle
    return out


def unlogged_events(p: SimParams, rng: np.random.Generator, truth: Truth, ex: dict, fu: dict) -> dict:
    """Events from entries the log missed: a skipped room later entered by a path with no click row."""
    empty = {"user": np.zeros(0, np.int64), "room": np.zeros(0, np.int64), "ts": np.zeros(0, np.int64),
             "kind": np.zeros(0, np.int8), "price": np.zeros(0, np.int64)}
    if not p.release_quirks:
        return empty
    n_s = np.int64(truth.rooms["start"].size)
    pair = ex["user"] * n_s + ex["room"]
    neg = np.nonzero(~fu["clicked"])[0]
    neg = neg[rng.random(neg.size) < p.unlogged_rate]
    # Keep only pairs the user never clicked: look the (many) clicked pairs up among the (few) candidates.
    cand = np.unique(pair[neg])
    clicked = np.zeros(cand.size, dtype=bool)
    if cand.size:
        cp = pair[fu["cidx"]]
        pos = np.minimum(np.searchsorted(cand, cp), cand.size - 1)
        clicked[pos[cand[pos] == cp]] = True
        neg = neg[~clicked[np.searchsorted(cand, pair[neg])]]
    u, r, t = ex["user"][neg], ex["room"][neg], ex["t"][neg]
    stop = np.minimum(truth.rooms["end"][r], T1_MS)
    ts = t + 1 + (rng.random(neg.size) * np.maximum(stop - t - 1, 0)).astype(np.int64)
    kind = rng.choice(3, size=neg.size, p=[0.48, 0.46, 0.06]).astype(np.int8)
    price = np.zeros(neg.size, np.int64)
    g = kind == 2
    price[g] = sample_prices(p, rng, truth, u[g])
    return {"user": u, "room": r, "ts": ts, "kind": kind, "price": price}


def select_users(p: SimParams, rng: np.random.Generator, n_pool: int, ex: dict, fu: dict, un: dict,
                 quiet: bool) -> np.ndarray:
    """The sampling of KuaiLive's users: keep users who clicked, commented, liked and gifted (pool indices)."""
    cu = ex["user"][fu["cidx"]]
    counts = [np.bincount(cu, minlength=n_pool)]
    for j, kind in enumerate(("comment", "like", "gift")):
        c = np.bincount(cu[fu[kind]["click"]], minlength=n_pool)
        c += np.bincount(un["user"][un["kind"] == j], minlength=n_pool)
        counts.append(c)
    active = np.all(np.stack(counts) > 0, axis=0) if p.active_selection else np.ones(n_pool, bool)
    passers = np.nonzero(active)[0]
    if passers.size < p.n_users:
        log(quiet, f"sim: only {passers.size} of {n_pool} simulated users did all four behaviours "
                   f"(wanted {p.n_users}); raise user_oversample")
    return np.sort(rng.permutation(passers)[:p.n_users])


# --- the release ------------------------------------------------------------------------------------
class Sink(Protocol):
    """Where the release goes, table by table as each is ready (benchmark.sim.writer implements it)."""

    def csv(self, name: str, table: pa.Table) -> None: ...

    def embeddings(self, array: np.ndarray) -> None: ...

    def oracle(self, name: str, table: pa.Table) -> None: ...

    def latent(self, name: str, obj: pa.Table | np.ndarray) -> None: ...


def _bins(values: np.ndarray, edges: list[float], labels: list[str]) -> np.ndarray:
    """Range-string label of each value (edges are the bins' lower bounds)."""
    i = np.clip(np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right") - 1, 0, len(labels) - 1)
    return np.asarray(labels, dtype=object)[i]


def _dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 -> 'YYYY-MM-DD' strings."""
    return (np.datetime64("1970-01-01", "D") + days.astype("timedelta64[D]")).astype(str).astype(object)


SNAPSHOT_DAY = int((T1_MS - DAY_MS + 8 * HOUR_MS) // DAY_MS)  # 2025-05-25 as days since epoch (+08 date)
COUNT_BINS = ([0, 10, 100, 1000, 10000], ["0-10", "10-100", "100-1000", "1000-10000", "10000+"])
BRANDS = np.array(["APPLE", "HUAWEI", "OPPO", "VIVO", "XIAOMI", "HONOR", "SAMSUNG", "OTHERS"], dtype=object)
TAGS = {"shop": "Ecommerce", "game": "Gaming", "chat": "Relationship", "music": "Music", "dance": "Dance",
        "outdoor": "Outdoor", "food": "Food", "talent": "Talent", "education": "Knowledge", "sports": "Sports"}


def _device(rng: np.random.Generator, wealth: np.ndarray, desktop_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Device brand and price bin from a latent wealth score (APPLE and dear phones for the wealthy)."""
    n = wealth.size
    price = np.exp(7.6 + 0.45 * wealth + 0.35 * rng.standard_normal(n))
    labels = _bins(price, [0, 1000, 2000, 3000, 4000, 5000], ["1-1000", "1000-2000", "2000-3000", "3000-4000",
                                                               "4000-5000", "5000+"])
    apple = rng.random(n) < expit(-1.5 + 1.2 * wealth)
    brand = np.where(apple, "APPLE", BRANDS[1 + rng.integers(0, BRANDS.size - 1, n)]).astype(object)
    desk = rng.random(n) < desktop_share
    brand[desk] = "DESKTOP"
    labels[desk] = "0"
    return brand, labels


def _onehots(rng: np.random.Generator, F: np.ndarray) -> list[np.ndarray]:
    thresholds = (0.0, 0.5, 1.0, -0.5, 1.5, 0.8, 0.2)
    return [((F[:, i] + 0.7 * rng.standard_normal(F.shape[0])) > thr).astype(np.int64)
            for i, thr in enumerate(thresholds)]


def user_profiles(p: SimParams, rng: np.random.Generator, w: World, sel: np.ndarray, stats: dict) -> dict:
    """user.csv columns: a 2025-05-25 snapshot, noisy functions of the latent state and whole-window activity."""
    n = sel.size
    U = w.U[sel].astype(np.float64)
    tenure = np.exp(rng.uniform(np.log(60), np.log(4500), n))
    reg = SNAPSHOT_DAY - tenure.astype(np.int64)
    first_watch = reg + (rng.random(n) ** 2 * tenure * 0.5).astype(np.int64)
    watch_years = (SNAPSHOT_DAY - first_watch + 21) / 21.0
    life = np.sqrt(watch_years) * np.exp(0.3 * rng.standard_normal(n))
    accu_cnt = stats["clicks"] * life * 3
    accu_dur = stats["watch_ms"] * life * 3
    age = 30 - 5 * U[:, 0] + 8 * rng.standard_normal(n)
    age_lab = _bins(age, [0, 18, 24, 31, 41, 50], ["12-17", "18-23", "24-30", "31-40", "41-49", "50+"])
    age_lab[rng.random(n) < 0.015] = "UNKNOWN"
    gender = np.where(U[:, 1] + 0.8 * rng.standard_normal(n) > 0, "M", "F").astype(object)
    wealth = w.users["z_gift"][sel] * 0.8 + 0.6 * rng.standard_normal(n)
    brand, dev_price = _device(rng, wealth, 0.03)
    streams = rng.random(n) < expit(-3.3 + 0.8 * w.users["social"][sel])
    photo = rng.random(n) < expit(-1.6 + 0.6 * w.users["social"][sel])
    fans = np.exp(1.0 + 1.2 * rng.standard_normal(n) + 3.0 * streams + 1.0 * photo)
    follow = np.exp(2.0 + 0.5 * np.log1p(stats["favourites"]) + 0.4 * np.log1p(stats["clicks"])
                    + 0.6 * rng.standard_normal(n))
    cols = {
        "age": age_lab, "gender": gender,
        "country": np.where(rng.random(n) < 0.995, "China", "Others").astype(object),
        "device_brand": brand, "device_price": dev_price, "reg_timestamp": _dates(reg),
        "fans_num": _bins(fans, *COUNT_BINS), "follow_num": _bins(follow, *COUNT_BINS),
        "first_watch_live_timestamp": _dates(first_watch),
        "accu_watch_live_cnt": _bins(accu_cnt, [0, 100, 500, 1000, 5000, 10000, 50000],
                                     ["0-100", "100-500", "500-1000", "1000-5000", "5000-10000", "10000-50000",
                                      "50000+"]),
        "accu_watch_live_duration": _bins(accu_dur, [0, 1e7, 1e8, 1e9, 1e10],
                                          ["0-10000000", "10000000-100000000", "100000000-1000000000",
                                           "1000000000-10000000000", "10000000000+"]),
        "is_live_streamer": streams.astype(np.int64), "is_photo_author": photo.astype(np.int64),
    }
    for i, v in enumerate(_onehots(rng, U[:, 2:9])):
        cols[f"onehot_feat{i}"] = v
    return _shuffle_if_off(p, rng, cols, n)


def streamer_profiles(p: SimParams, rng: np.random.Generator, w: World, stats: dict) -> dict:
    """streamer.csv columns: snapshot of popularity, category, and whole-window activity (future included)."""
    n = p.n_streamers
    st = w.streamers
    V = w.V.astype(np.float64)
    tenure = np.exp(rng.uniform(np.log(30), np.log(4000), n))
    reg = SNAPSHOT_DAY - tenure.astype(np.int64)
    first_live = reg + (rng.random(n) * tenure * 0.6).astype(np.int64)
    years = (SNAPSHOT_DAY - first_live + 21) / 21.0
    life = np.sqrt(years) * np.exp(0.3 * rng.standard_normal(n))
    pop = st["log_pop"].astype(np.float64)
    fans = np.exp(5.5 + 1.3 * pop + 0.6 * rng.standard_normal(n)) + 50 * stats["clicks"]
    cat_names = np.asarray(CATEGORIES, dtype=object)[st["category"]]
    tag = np.vectorize(TAGS.get, otypes=[object])(cat_names)
    noisy = rng.random(n) < 0.15
    tag[noisy] = np.asarray(list(TAGS.values()) + ["Others"], dtype=object)[rng.integers(0, 11, int(noisy.sum()))]
    age = 28 - 3 * V[:, 0] + 7 * rng.standard_normal(n)
    brand, dev_price = _device(rng, 0.3 * pop + 0.8 * rng.standard_normal(n), 0.02)
    cols = {
        "gender": np.where(V[:, 1] + 0.8 * rng.standard_normal(n) > 0, "M", "F").astype(object),
        "age": _bins(age, [0, 18, 24, 31, 41, 50], ["12-17", "18-23", "24-30", "31-40", "41-49", "50+"]),
        "country": np.where(rng.random(n) < 0.993, "China", "Others").astype(object),
        "device_brand": brand, "device_price": dev_price, "live_operation_tag": tag,
        "fans_user_num": _bins(fans, [0, 10, 100, 1000, 10000, 100000, 1000000],
                               ["0-10", "10-100", "100-1000", "1000-10000", "10000-100000", "100000-1000000",
                                "1000000+"]),
        "fans_group_fans_num": _bins(fans * np.exp(-4 + 0.8 * rng.standard_normal(n)), *COUNT_BINS),
        "follow_user_num": _bins(np.exp(3.5 + 1.2 * rng.standard_normal(n)), *COUNT_BINS),
        "first_live_timestamp": _dates(first_live),
        "accu_live_cnt": _bins(stats["rooms"] * life * 2 + rng.poisson(3, n),
                               [0, 10, 50, 100, 500, 1000], ["0-10", "10-50", "50-100", "100-500", "500-1000",
                                                             "1000+"]),
        "accu_live_duration": _bins(stats["live_ms"] * life * 2,
                                    [0, 1e8, 5e8, 1e9, 5e9], ["0-100000000", "100000000-500000000",
                                                              "500000000-1000000000", "1000000000-5000000000",
                                                              "5000000000+"]),
        "accu_play_cnt": _bins((stats["clicks"] * 400 + fans * 0.5) * life,
                               [0, 1000, 10000, 100000, 500000, 1000000],
                               ["0-1000", "1000-10000", "10000-100000", "100000-500000", "500000-1000000",
                                "1000000+"]),
        "accu_play_duration": _bins((stats["watch_ms"] * 400 + fans * 3e4) * life,
                                    [0, 1e9, 1e10, 5e10, 1e11],
                                    ["0-1000000000", "1000000000-10000000000", "10000000000-50000000000",
                                     "50000000000-100000000000", "100000000000+"]),
        "reg_timestamp": _dates(reg),
    }
    for i, v in enumerate(_onehots(rng, V[:, 2:9])):
        cols[f"onehot_feat{i}"] = v
    return _shuffle_if_off(p, rng, cols, n)


def _shuffle_if_off(p: SimParams, rng: np.random.Generator, cols: dict, n: int) -> dict:
    """side_signal off: the same marginals, rows shuffled across entities (no link to latent or activity)."""
    if p.side_signal:
        return cols
    perm = rng.permutation(n)
    return {k: v[perm] for k, v in cols.items()}


def title_embeddings(p: SimParams, rng: np.random.Generator, w: World, streamer_of_title: np.ndarray) -> np.ndarray:
    """128-d title vectors: category centre + the streamer's style (its factors projected) + noise, PCA-like scale.

    Drawn in fixed chunks of rows, each from its own generator seeded from `rng`, on parallel threads.
    """
    dim = schema.EMBEDDING_DIM
    k = len(CATEGORIES)
    centre = rng.standard_normal((k, dim)).astype(np.float32)
    proj = (rng.standard_normal((p.latent_dim, dim)) / np.sqrt(p.latent_dim)).astype(np.float32)
    spectrum = (0.35 / np.sqrt(1 + np.arange(dim) / 8.0)).astype(np.float32)
    a_c = np.float32(0.6 if p.category_clusters else 0.0)
    out = np.empty((streamer_of_title.size, dim), dtype=np.float32)
    step = 1 << 16
    seeds = rng.integers(0, 2**63 - 1, size=max(1, -(-out.shape[0] // step)))

    def work(c0: int, c1: int) -> None:
        for c in range(c0, c1):
            s = streamer_of_title[c * step:(c + 1) * step]
            g = np.random.Generator(np.random.PCG64(int(seeds[c])))
            x = (a_c * centre[w.streamers["category"][s]] + np.float32(0.6) * (w.V[s] @ proj)
                 + np.float32(0.7) * g.standard_normal((s.size, dim), dtype=np.float32))
            out[c * step:c * step + s.size] = x * spectrum

    parallel_chunks(work, seeds.size, min_chunk=2)
    return out


def _table(file: schema.RawFile, cols: dict[str, Any]) -> pa.Table:
    """A pyarrow table with exactly the schema's columns, in order (ints int64, strings string)."""
    arrays = []
    for name, kind in file.columns:
        v = cols[name]
        if isinstance(v, pa.Array):
            arrays.append(v)
        elif kind in ("str", "range", "date"):
            arrays.append(pa.array(v, type=pa.string()))
        else:
            arrays.append(pa.array(np.asarray(v, dtype=np.int64)))
    return pa.Table.from_arrays(arrays, names=file.column_names)


def simulate_release(p: SimParams, seed: int, sink: Sink, quiet: bool = False) -> dict[str, Any]:
    """Run the whole generative model for one seed, handing every table to `sink`; returns params.json's dict."""
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]
    bar = tqdm(total=4, desc="sim", unit="stage", disable=quiet, leave=False)

    def done(stage: str, what: str) -> None:
        now = time.perf_counter()
        timings[stage] = round(now - clock[0], 3)
        clock[0] = now
        bar.update(1)
        bar.set_postfix_str(stage)
        log(quiet, f"sim: {what} ({timings[stage]:.1f}s)")

    rngs = {name: np.random.Generator(np.random.PCG64(ss))
            for name, ss in zip(STAGES, np.random.SeedSequence(seed).spawn(len(STAGES)), strict=True)}
    w = make_world(p, rngs)
    done("world", f"world: {p.n_streamers} streamers, {w.rooms['start'].size} rooms, {w.U.shape[0]} users")
    ex = make_exposures(p, rngs, w, quiet)
    w.room_key = np.zeros(0, np.int64)  # only the favourite look-ups needed it
    exposed = np.zeros(w.rooms["start"].size, dtype=bool)
    exposed[ex["room"]] = True
    add_highlights(p, rngs["highlights"], w, exposed)
    del exposed
    done("exposures", f"exposures: {ex['user'].size}, {w.hl_key.size} highlight windows")
    truth = w.truth(p)
    fu = run_funnel(p, rngs["funnel"], truth, ex)
    un = unlogged_events(p, rngs["quirks"], truth, ex, fu)
    done("funnel", f"funnel: {fu['cidx'].size} clicks")
    sel = select_users(p, rngs["selection"], w.U.shape[0], ex, fu, un, quiet)
    counts = assemble(p, rngs, w, ex, fu, un, sel, sink)
    done("release", f"release: {sel.size} users kept, {counts['rooms_written']} rooms written")
    bar.close()
    return {"version": VERSION, "seed": int(seed), "params": to_dict(p), "categories": list(CATEGORIES),
            "window_ms": [T0_MS, T1_MS], "cap_ms": CAP_MS, "counts": counts, "timings_s": timings}


def assemble(p: SimParams, rngs: dict, w: World, ex: dict, fu: dict, un: dict, sel: np.ndarray,
             sink: Sink) -> dict[str, int]:
    """Restrict to the kept users and emit every release table, the embeddings and the oracle to `sink`.

    Pool-sized arrays are dropped (ex and fu are emptied) as soon as their kept parts are taken.
    """
    n_pool, n_u = w.U.shape[0], sel.size
    n_exposures_pool = ex["user"].size
    new_u = np.full(n_pool, -1, dtype=np.int64)
    new_u[sel] = np.arange(n_u)
    rid = rngs["ids"]
    # User ids increase with the (random) pool order, so (time, user) order is (timestamp, user_id) order.
    user_ids = np.sort(sparse_ids(rid, n_u, 2, 0))
    streamer_ids = sparse_ids(rid, p.n_streamers, 2, 0)

    # Click-level pool arrays (for events), then the kept exposures, already in (timestamp, user_id) order.
    cidx = fu.pop("cidx")
    c_user, c_room = ex["user"][cidx], ex["room"][cidx]
    keep = np.nonzero(new_u[ex["user"]] >= 0)[0]
    e_user, e_room, e_t = new_u[ex["user"][keep]], ex["room"][keep].astype(np.int64), ex["t"][keep]
    e_click, e_p, e_hl = fu.pop("clicked")[keep], fu.pop("p_click")[keep], fu.pop("in_hl")[keep]
    ci = np.searchsorted(cidx, keep[e_click])  # click-array index of each written click, in written order
    del keep, cidx
    ex.clear()

    # Rooms written: touched by some kept exposure (or every room with the switch off).
    n_rooms_pool = w.rooms["start"].size
    touched = np.zeros(n_rooms_pool, dtype=bool)
    touched[e_room] = True
    if not p.touched_rooms_only:
        touched[:] = True
    wr = np.nonzero(touched)[0]
    del touched
    live_ids = sparse_ids(rid, wr.size, 2, 1_000)
    by_id = packed_argsort(live_ids)  # written rooms in live_id order
    rank = np.empty(wr.size, dtype=np.int64)
    rank[by_id] = np.arange(wr.size)
    room_new = np.full(n_rooms_pool, -1, dtype=np.int32)
    room_new[wr] = np.arange(wr.size, dtype=np.int32)
    r_end_written = emit_rooms(p, rngs["titles"], w, wr, live_ids, rank, streamer_ids, sink)

    # Exposure tables and the oracle per exposure / per click.
    e_uid, e_lid = user_ids[e_user], live_ids[room_new[e_room]]
    e_sid = streamer_ids[w.rooms["streamer"][e_room]]
    neg = ~e_click
    sink.csv("negative.csv", _table(schema.NEGATIVE, {"user_id": e_uid[neg], "live_id": e_lid[neg],
                                                       "streamer_id": e_sid[neg], "timestamp": e_t[neg]}))
    del neg
    watch = fu["watch"][ci]
    c_sid = e_sid[e_click]
    if p.release_quirks:
        rm = rngs["mismatch"]
        mis = np.nonzero(rm.random(c_sid.size) < p.streamer_mismatch)[0]
        other = w.rooms["streamer"][e_room[e_click][mis]] + 1 + rm.integers(0, p.n_streamers - 1, mis.size)
        c_sid[mis] = streamer_ids[other % p.n_streamers]
    sink.csv("click.csv", _table(schema.CLICK, {"user_id": e_uid[e_click], "live_id": e_lid[e_click],
                                                "streamer_id": c_sid, "timestamp": e_t[e_click],
                                                "watch_live_time": watch}))
    sink.oracle("exposures", pa.table({"user_id": e_uid, "live_id": e_lid, "timestamp": e_t,
                                       "p_click": e_p.astype(np.float32), "in_highlight": e_hl}))
    orc = fu["oracle"]
    sink.oracle("clicks", pa.table({"user_id": e_uid[e_click], "live_id": e_lid[e_click], "timestamp": e_t[e_click],
                                    **{k: orc[k][ci].astype(np.float32) for k in ("exp_watch_ms", "p_comment",
                                                                                  "p_like", "p_gift",
                                                                                  "exp_gift_value")}}))
    n_exposures, n_clicks = int(e_t.size), int(e_click.sum())
    del e_uid, e_lid, e_sid, e_p, e_hl, c_sid

    # In-room events of kept clicks plus the unlogged ones of kept users, sorted by (timestamp, user, room).
    kc = new_u[c_user] >= 0
    for j, kind in enumerate(("comment", "like", "gift")):
        ev = fu[kind]
        k_ok = kc[ev["click"]]
        ck = ev["click"][k_ok]
        m_un = (new_u[un["user"]] >= 0) & (un["kind"] == j)
        users = user_ids[np.concatenate([new_u[c_user[ck]], new_u[un["user"][m_un]]])]
        rooms = np.concatenate([c_room[ck], un["room"][m_un]])
        lids = live_ids[room_new[rooms]]
        ts = np.concatenate([ev["ts"][k_ok], un["ts"][m_un]])
        o = np.lexsort((lids, users, ts))
        cols = {"user_id": users[o], "live_id": lids[o], "streamer_id": streamer_ids[w.rooms["streamer"][rooms]][o],
                "timestamp": ts[o]}
        if kind == "gift":
            cols["gift_price"] = np.concatenate([ev["price"][k_ok], un["price"][m_un]])[o]
        sink.csv(f"{kind}.csv", _table(getattr(schema, kind.upper()), cols))

    # Profiles: a snapshot of the latent state and of whole-window activity (the future included, as released).
    c_users = e_user[e_click]
    ustats = {"clicks": np.bincount(c_users, minlength=n_u).astype(np.float64),
              "watch_ms": np.bincount(c_users, weights=watch, minlength=n_u),
              "favourites": (w.fav[sel] >= 0).sum(axis=1).astype(np.float64)}
    c_streamers = w.rooms["streamer"][e_room[e_click]]
    sstats = {"clicks": np.bincount(c_streamers, minlength=p.n_streamers).astype(np.float64),
              "watch_ms": np.bincount(c_streamers, weights=watch, minlength=p.n_streamers),
              "rooms": np.bincount(w.rooms["streamer"], minlength=p.n_streamers).astype(np.float64),
              "live_ms": np.bincount(w.rooms["streamer"], weights=(w.rooms["end"] - w.rooms["start"]).astype(float),
                                     minlength=p.n_streamers)}
    rs_ = rngs["side"]
    sink.csv("user.csv", _table(schema.USER, {"user_id": user_ids, **user_profiles(p, rs_, w, sel, ustats)}))
    so = np.argsort(streamer_ids)
    scols = {"streamer_id": streamer_ids, **streamer_profiles(p, rs_, w, sstats)}
    sink.csv("streamer.csv", _table(schema.STREAMER, {k: v[so] for k, v in scols.items()}))
    emit_latent(w, sel, user_ids, streamer_ids, so, wr, live_ids, by_id, r_end_written, sink)
    return {"users_simulated": int(n_pool), "users_kept": int(n_u), "rooms_simulated": int(n_rooms_pool),
            "rooms_written": int(wr.size), "exposures_simulated": int(n_exposures_pool),
            "exposures": n_exposures, "clicks": n_clicks}


def emit_rooms(p: SimParams, rt: np.random.Generator, w: World, wr: np.ndarray, live_ids: np.ndarray,
               rank: np.ndarray, streamer_ids: np.ndarray, sink: Sink) -> np.ndarray:
    """room.csv (one row per p_date a written room is live on inside the window) and title_embeddings.npy.

    Returns the end timestamps as written (rooms still live at the window's end capped at CAP_MS).
    """
    st = w.streamers
    r_s = w.rooms["streamer"][wr].astype(np.int64)
    r_start, r_end = w.rooms["start"][wr], w.rooms["end"][wr]
    r_end_written = np.where(r_end > T1_MS, CAP_MS, r_end)
    d_first = (np.maximum(r_start, T0_MS) - T0_MS) // DAY_MS
    d_last = (np.minimum(r_end, T1_MS) - 1 - T0_MS) // DAY_MS
    n_rows = (d_last - d_first + 1).astype(np.int64)
    row_room = np.repeat(np.arange(wr.size), n_rows)
    row_pos = seg_positions(n_rows)
    row_day = np.repeat(d_first, n_rows) + row_pos
    # Titles: one of the streamer's titles (or none); a later date of the same room may carry another.
    slot = (rt.random(wr.size) * st["n_titles"][r_s]).astype(np.int64)
    title = st["title_first"][r_s] + slot
    title[rt.random(wr.size) < p.p_no_title] = -1
    row_title = title[row_room]
    if p.release_quirks:
        change = np.nonzero((row_pos > 0) & (rt.random(row_room.size) < p.p_title_change))[0]
        rs = r_s[row_room[change]]
        row_title[change] = st["title_first"][rs] + (rt.random(change.size) * st["n_titles"][rs]).astype(np.int64)
    n_titles = int(st["title_first"][-1] + st["n_titles"][-1])
    used = np.nonzero(np.bincount(row_title[row_title >= 0], minlength=n_titles))[0]
    # The i-th smallest id goes to a random used title, so ids don't follow streamers.
    pairing = used[rt.permutation(used.size)]
    title_id_of = np.full(n_titles, -1, dtype=np.int64)
    title_id_of[pairing] = np.sort(sparse_ids(rt, used.size, 3, 0))
    row_title_id = np.where(row_title >= 0, title_id_of[np.maximum(row_title, 0)], -1)
    sink.embeddings(title_embeddings(p, rt, w, np.searchsorted(st["title_first"], pairing, side="right") - 1))
    p_dates = np.array([int(str(np.datetime64("2025-05-05") + i).replace("-", "")) for i in range(N_DAYS)])
    ro = packed_argsort((row_day << 32) | rank[row_room])
    rr = row_room[ro]
    cats = pa.array(list(CATEGORIES), pa.string()).take(pa.array(st["category"][r_s[rr]].astype(np.int32)))
    sink.csv("room.csv", _table(schema.ROOM, {
        "p_date": p_dates[row_day[ro]], "live_id": live_ids[rr], "streamer_id": streamer_ids[r_s[rr]],
        "live_type": w.rooms["live_type"][wr][rr], "start_timestamp": r_start[rr], "end_timestamp": r_end_written[rr],
        "live_content_category": cats, "live_name_id": row_title_id[ro]}))
    return r_end_written


def emit_latent(w: World, sel: np.ndarray, user_ids: np.ndarray, streamer_ids: np.ndarray, so: np.ndarray,
                wr: np.ndarray, live_ids: np.ndarray, by_id: np.ndarray, r_end_written: np.ndarray,
                sink: Sink) -> None:
    """oracle/latent/: users, streamers, rooms, highlights, favourites (sorted by id) and factor matrices."""
    users = {"user_id": user_ids, **{k: w.users[k][sel] for k in ("bias", "engage", "comment", "like", "gift",
                                                                   "price_tilt")},
             "preferred_hour": w.users["hour"][sel].astype(np.float32),
             "requests": w.users["requests"][sel].astype(np.float32),
             "fav_share": w.users["fav_share"][sel].astype(np.float32),
             "active_share": w.users["active_share"][sel].astype(np.float32),
             "whale": w.users["whale"][sel]}
    for j, c in enumerate(CATEGORIES):
        users[f"taste_{c}"] = w.users["taste"][sel, j].astype(np.float32)
    sink.latent("users", pa.table(users))
    sink.latent("user_factors", w.U[sel])
    st = w.streamers
    sink.latent("streamers", pa.table({
        "streamer_id": streamer_ids[so], "category": pa.array(list(CATEGORIES)).take(pa.array(
            st["category"][so].astype(np.int32))),
        "category_code": st["category"][so], "log_pop": st["log_pop"][so],
        "preferred_hour": st["hour"][so].astype(np.float32), "p_day": st["p_day"][so].astype(np.float32)}))
    sink.latent("streamer_factors", w.V[so])
    rp = wr[by_id]
    sink.latent("rooms", pa.table({
        "live_id": live_ids[by_id], "streamer_id": streamer_ids[w.rooms["streamer"][rp]],
        "start_ts": w.rooms["start"][rp], "true_end_ts": w.rooms["end"][rp], "end_ts": r_end_written[by_id],
        "live_type": w.rooms["live_type"][rp]}))
    # Highlights of written rooms, ordered by (live_id, start): pool keys are sorted by (pool room, start).
    h_room = w.hl_key >> 32
    pos_in_sorted = np.full(w.rooms["start"].size, -1, dtype=np.int64)
    pos_in_sorted[rp] = np.arange(rp.size)
    hk = np.nonzero(pos_in_sorted[h_room] >= 0)[0]
    ho = hk[packed_argsort(pos_in_sorted[h_room[hk]])]
    sink.latent("highlights", pa.table({"live_id": live_ids[by_id][pos_in_sorted[h_room[ho]]],
                                        "start_ts": (w.hl_key[ho] & 0xFFFFFFFF) + T_BASE_MS,
                                        "end_ts": w.hl_end[ho]}))
    fu_, fj = np.nonzero(w.fav[sel] >= 0)
    sink.latent("favourites", pa.table({"user_id": user_ids[fu_], "streamer_id": streamer_ids[w.fav[sel][fu_, fj]],
                                        "rank": fj.astype(np.int8)}))
