"""The feed: which room each request shows (a live favourite, else the feed's pick among the rooms live
then), giving the exposures sorted by (time, user)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.sim.oracle import (
    MINUTE_MS,
    T0_MS,
    T1_MS,
    T_BASE_MS,
    THREADS,
    is_weekend,
    last_le,
    packed_argsort,
    parallel_chunks,
)
from benchmark.sim.presets import CATEGORIES, SimParams
from benchmark.sim.schedule import make_requests
from benchmark.sim.vectorised import seg_positions, time_user_order
from benchmark.sim.world import World


@dataclass
class Exposures:
    """Every simulated exposure, sorted by (time, user), unique per (user, ms): pool indices of the user and
    the room, the time (epoch ms), and whether a live favourite (rather than the feed) showed it."""

    user: np.ndarray
    room: np.ndarray
    t: np.ndarray
    via_fav: np.ndarray

    def free(self) -> None:
        """Drop the pool-sized arrays (the release keeps only the kept users' part)."""
        self.user = self.room = self.t = self.via_fav = np.zeros(0, np.int64)


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
    cat = (r["category"][valid] if "category" in r else w.streamers["category"][s]).astype(np.int32)
    b_lo = lo // bin_ms
    ne = ((hi - 1) // bin_ms - b_lo + 1).astype(np.int64)
    e = np.repeat(np.arange(valid.size, dtype=np.int32), ne)  # entry -> position in `valid`
    e_bin = np.repeat(b_lo.astype(np.int32), ne)
    e_bin += seg_positions(ne, np.int32)
    del b_lo, ne
    ov_lo = np.maximum(lo[e], e_bin * np.int32(bin_ms))
    ov_hi = np.minimum(hi[e], (e_bin + 1) * np.int32(bin_ms))
    weight = slot_mass(p, popw[e], st_rel[e], ov_lo, ov_hi, bin_ms)
    if p.platform_traffic and p.highlights and w.hl_key.size:
        # The platform audience surges in a highlight: extra entries over each window's part of each slot.
        h_e, h_bin, h_lo, h_hi, h_w = _highlight_entries(p, w, valid, popw, bin_ms)
        e, e_bin = np.concatenate([e, h_e]), np.concatenate([e_bin, h_bin])
        ov_lo, ov_hi = np.concatenate([ov_lo, h_lo]), np.concatenate([ov_hi, h_hi])
        weight = np.concatenate([weight, h_w])
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
    # Each entry's interval (window-relative ms): the room's live part of the slot, or a highlight's.
    return {"room": valid[e[order]].astype(np.int64), "cum": cum, "seg_off": seg_off, "n_bins": n_bins,
            "bin_ms": bin_ms, "lo": ov_lo[order], "hi": ov_hi[order]}


def slot_mass(p: SimParams, popw: np.ndarray, start_rel: np.ndarray, lo: np.ndarray, hi: np.ndarray,
              bin_ms: int) -> np.ndarray:
    """A room's feed mass over [lo, hi) of one slot (window-relative ms), in slots of median-popularity live
    time: exploitation popw x the share of the slot, plus (room_age) the exploration burst after its start.
    (The integral of benchmark.sim.oracle.feed_intensity over [lo, hi), per slot.)"""
    weight = popw * ((hi - lo).astype(np.float32) / np.float32(bin_ms))
    if p.room_age:
        tau = np.float32(p.fresh_tau_min * MINUTE_MS)
        age0 = (lo - start_rel).astype(np.float32)
        age1 = (hi - start_rel).astype(np.float32)
        weight += np.float32(p.fresh_boost * MINUTE_MS / bin_ms) * (np.exp(-age0 / tau) - np.exp(-age1 / tau))
    return weight


def _highlight_entries(p: SimParams, w: World, valid: np.ndarray, popw: np.ndarray,
                       bin_ms: int) -> tuple[np.ndarray, ...]:
    """Index entries for highlight windows: (hl_traffic_boost - 1) x the room's exploitation weight over each
    window's overlap with each slot. Returns entry -> position in `valid`, slot, interval lo/hi, weight."""
    h_room = w.hl_key >> 32
    pos = np.searchsorted(valid, h_room)
    ok = np.nonzero((pos < valid.size) & (valid[np.minimum(pos, valid.size - 1)] == h_room))[0]
    lo = np.maximum((w.hl_key[ok] & 0xFFFFFFFF) + T_BASE_MS, T0_MS) - T0_MS
    hi = np.minimum(w.hl_end[ok], T1_MS) - T0_MS
    ok2 = np.nonzero(hi > lo)[0]
    ok, lo, hi = ok[ok2], lo[ok2].astype(np.int32), hi[ok2].astype(np.int32)
    b_lo = lo // bin_ms
    ne = ((hi - 1) // bin_ms - b_lo + 1).astype(np.int64)
    j = np.repeat(np.arange(ok.size), ne)
    h_bin = (np.repeat(b_lo, ne) + seg_positions(ne, np.int32)).astype(np.int32)
    e_lo = np.maximum(lo[j], h_bin * np.int32(bin_ms))
    e_hi = np.minimum(hi[j], (h_bin + 1) * np.int32(bin_ms))
    e = pos[ok][j].astype(np.int32)
    weight = (np.float32(p.hl_traffic_boost - 1.0) * popw[e]
              * ((e_hi - e_lo).astype(np.float32) / np.float32(bin_ms)))
    return e, h_bin, e_lo, e_hi, weight


def _propose(rng: np.random.Generator, idx: dict, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One proposal per request: the index of an entry drawn by feed weight within [lo, hi) of its slot."""
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
    return np.clip(pick, lo, np.maximum(hi - 1, lo))


def pick_feed(p: SimParams, rng: np.random.Generator, w: World, eu: np.ndarray, t: np.ndarray,
              quiet: bool) -> tuple[np.ndarray, np.ndarray]:
    """Room shown to each feed request: category from the user's taste, then proposals by feed weight.

    The first proposal live at the request time is shown (up to feed_proposals tries); if none is,
    the first proposal is shown at a uniform time of its live part of the slot. Returns (room, time);
    room -1 = no room at all in the slot.
    """
    idx = feed_index(p, w)
    w.feed_mass = np.diff(idx["cum"][idx["seg_off"]]).reshape(idx["n_bins"], len(CATEGORIES))
    k = len(CATEGORIES)
    bin_ms, seg_off = idx["bin_ms"], idx["seg_off"]
    b = (t - T0_MS) // bin_ms
    cum_taste = np.cumsum(w.users["taste"], axis=1).astype(np.float32)
    weekend = is_weekend(t) if p.weekly_rhythm else None
    if weekend is not None:  # weekend tastes: leisure categories up, shopping and study down
        tilted = w.users["taste"] * np.exp(p.weekend_taste * np.asarray(p.weekend_tilt))[None, :]
        cum_weekend = np.cumsum(tilted / tilted.sum(axis=1, keepdims=True), axis=1).astype(np.float32)
    cat = np.empty(eu.size, dtype=np.int64)
    for a in range(0, eu.size, 1 << 21):
        z = slice(a, min(a + (1 << 21), eu.size))
        u = rng.random(z.stop - a, dtype=np.float32)
        cum = cum_taste[eu[z]]
        if weekend is not None:
            cum = np.where(weekend[z][:, None], cum_weekend[eu[z]], cum)
        cat[z] = np.minimum((u[:, None] > cum).sum(axis=1), k - 1)
    seg = b * k + cat
    lo, hi = seg_off[seg], seg_off[seg + 1]
    empty = hi == lo
    lo[empty], hi[empty] = seg_off[b[empty] * k], seg_off[b[empty] * k + k]
    t_rel = t - T0_MS

    def covers(entry: np.ndarray, at: np.ndarray) -> np.ndarray:  # the entry's interval holds the request time
        return (idx["lo"][entry] <= at) & (at < idx["hi"][entry])

    first = _propose(rng, idx, b, lo, hi)
    chosen = idx["room"][first]
    todo = np.nonzero(~covers(first, t_rel))[0]
    for _ in range(p.feed_proposals - 1):
        if todo.size == 0:
            break
        cand = _propose(rng, idx, b[todo], lo[todo], hi[todo])
        live = covers(cand, t_rel[todo])
        chosen[todo[live]] = idx["room"][cand[live]]
        todo = todo[~live]
    # The request time is outside the first proposal's interval (the room's live part of the slot, or a
    # highlight's): show it at a uniform time of that interval.
    f = first[todo]
    e_lo, e_hi = idx["lo"][f].astype(np.int64) + T0_MS, idx["hi"][f].astype(np.int64) + T0_MS
    t_new = t.copy()
    t_new[todo] = e_lo + (rng.random(todo.size) * (e_hi - e_lo)).astype(np.int64)
    chosen[hi == lo] = -1
    return chosen, t_new


def make_exposures(p: SimParams, rngs: dict, w: World, quiet: bool) -> Exposures:
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
    return Exposures(eu[ok], room[ok], t[ok], via_fav[ok])
