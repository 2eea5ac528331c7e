"""The ground truth of KuaiLive-Sim: one implementation the simulator samples from and the Oracle scores with.

`Truth` works in index space (user, room and streamer positions in its arrays) and is what
`benchmark.sim.model` calls while sampling; `Oracle` wraps the same `Truth`, rebuilt from
`oracle/latent/`, behind id-based methods, so the oracle equals the truth by construction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy.special import expit, ndtr

from benchmark.data.schema import DAY_MS, TZ_OFFSET_MS
from benchmark.errors import BenchmarkError
from benchmark.sim.presets import CATEGORIES, SimParams, from_dict

T0_MS = 1746374400000            # 2025-05-05 00:00 +08:00: the window's first instant
N_DAYS = 21
T1_MS = T0_MS + N_DAYS * DAY_MS  # 2025-05-26 00:00 +08:00: the window's end (exclusive)
CAP_MS = T1_MS + DAY_MS          # 2025-05-27 00:00 +08:00: the end written for rooms still live at T1
T_BASE_MS = T0_MS - 2 * DAY_MS   # origin of the 32-bit relative times inside composite keys
MINUTE_MS = 60_000
CHUNK = 1 << 20
OFF_FUNNEL_ODDS = float(np.log(0.3))  # funnel off: events ignore engagement, at a similar mean rate

# Daily activity profiles: (centre hour +08, sd in hours, weight) of wrapped normals.
USER_PROFILE = ((21.0, 1.7, 0.55), (12.5, 1.5, 0.12), (17.0, 2.5, 0.15), (8.5, 1.5, 0.08), (0.7, 1.4, 0.10))
STREAMER_PROFILE = ((20.3, 1.6, 0.55), (12.0, 1.5, 0.12), (16.5, 2.5, 0.15), (8.0, 1.5, 0.09), (0.2, 1.2, 0.09))


def hour_density(profile: tuple[tuple[float, float, float], ...], hours: np.ndarray) -> np.ndarray:
    """Density (per hour) of a wrapped-normal mixture over the 24 h clock, at `hours`."""
    h = np.asarray(hours, dtype=np.float64)[..., None]
    out = np.zeros(h.shape[:-1])
    for c, s, w in profile:
        d = (h[..., 0] - c + 12.0) % 24.0 - 12.0
        out += w * np.exp(-0.5 * (d / s) ** 2) / (s * np.sqrt(2 * np.pi))
    return out


def is_weekend(t_ms: np.ndarray) -> np.ndarray:
    """Whether each time falls on a Saturday or Sunday, +08 (the window's day 0, 2025-05-05, is a Monday)."""
    return ((np.asarray(t_ms, dtype=np.int64) - T0_MS) // DAY_MS) % 7 >= 5


def tod_grid(p: SimParams) -> np.ndarray:
    """Click time-of-day term per minute of the +08 day: the user activity curve (max 1) minus its mean."""
    if not p.daily_peak:
        return np.zeros(1440)
    dens = hour_density(USER_PROFILE, (np.arange(1440) + 0.5) / 60.0)
    curve = dens / dens.max()
    return curve - curve.mean()


THREADS = max(1, min(2, int(os.environ.get("KUAILIVE_SIM_THREADS", os.cpu_count() or 1))))


def parallel_chunks(fn: Callable[[int, int], object], n: int, min_chunk: int = 1 << 20) -> list:
    """fn(a, b) over contiguous chunks of range(n), on THREADS threads (numpy releases the GIL).

    Pure functions only (no shared random generator), so the result never depends on thread timing.
    """
    k = THREADS if n >= 2 * min_chunk else 1
    bounds = np.linspace(0, n, k + 1).astype(np.int64)
    if k == 1:
        return [fn(0, n)]
    with ThreadPoolExecutor(max_workers=k) as pool:
        return list(pool.map(lambda i: fn(int(bounds[i]), int(bounds[i + 1])), range(k)))


def parallel_concat(fn: Callable[[int, int], np.ndarray], n: int) -> np.ndarray:
    """parallel_chunks, concatenated (fn returns one array per chunk)."""
    parts = parallel_chunks(fn, n)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def packed_argsort(key: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative int64 keys; packs (key, position) into one int64 and uses np.sort when it fits."""
    key = np.asarray(key, dtype=np.int64)
    n = key.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bits = max(1, int(n - 1).bit_length())
    top = int(key.max())
    if int(key.min()) >= 0 and top.bit_length() + bits <= 63:
        return np.sort((key << bits) | np.arange(n, dtype=np.int64)) & ((1 << bits) - 1)
    return np.argsort(key, kind="stable")


def last_le(keys: np.ndarray, group: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """Index of the last of sorted `keys` <= interval_key(group, t) (-1 if none).

    Large batches are searched in (group, input position) order, which is fully sorted when the
    input is time-sorted, so the binary searches stay cache-friendly.
    """
    q = interval_key(group, t_ms)
    if keys.size > (1 << 18) and q.size > (1 << 16):
        order = packed_argsort(np.asarray(group, dtype=np.int64))
        out = np.empty(q.size, dtype=np.int64)
        out[order] = np.searchsorted(keys, q[order], side="right") - 1
        return out
    return np.searchsorted(keys, q, side="right").astype(np.int64) - 1


def interval_key(group: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """Composite sortable key (group, time) for interval look-ups: group << 32 | (t - T_BASE)."""
    rel = np.clip(np.asarray(t_ms, dtype=np.int64) - T_BASE_MS, 0, (1 << 32) - 1)
    return (np.asarray(group, dtype=np.int64) << 32) | rel


def lognormal_min_mean(mu: np.ndarray, sigma: float, cap: np.ndarray) -> np.ndarray:
    """E[min(W, cap)] for W ~ LogNormal(mu, sigma): the mean watch of a session cut by the room's end."""
    cap = np.maximum(np.asarray(cap, dtype=np.float64), 1e-9)
    lc = np.log(cap)
    return (np.exp(mu + 0.5 * sigma**2) * ndtr((lc - mu - sigma**2) / sigma)
            + cap * (1.0 - ndtr((lc - mu) / sigma)))


@dataclass
class Context:
    """Per-(user, room, time) quantities shared by the click and post-click functions."""

    ui: np.ndarray
    ri: np.ndarray
    si: np.ndarray
    t: np.ndarray
    affinity: np.ndarray
    fav: np.ndarray
    hl: np.ndarray
    weekend: np.ndarray

    def take(self, m: np.ndarray | slice) -> Context:
        """The samples `m` selects (an index array, a mask or a slice)."""
        return Context(*(getattr(self, f.name)[m] for f in fields(self)))

    def slice(self, a: int, b: int) -> Context:
        return self.take(slice(a, b))


@dataclass
class Content:
    """What each room shows (content_drift): a bank of topic factors, each room's opening topic and the later
    segments of long rooms (sorted keys interval_key(room, segment start) with their topics)."""

    topics: np.ndarray          # (n_topics, d) float32 topic factors
    topic_category: np.ndarray  # (n_topics,) int8 category of each topic
    room_topic: np.ndarray      # (n_rooms,) int32 topic a room opens with
    seg_key: np.ndarray         # sorted interval_key(room, start) of the content changes
    seg_topic: np.ndarray       # (n_segments,) int32 topic from that change on
    streamer_mean: np.ndarray | None = None  # (n_streamers, d) a streamer's average content (Oracle.load)

    def topic_at(self, ri: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The topic room ri shows at time t: its latest segment started at or before t, else its opening one."""
        ri = np.asarray(ri, dtype=np.int64)
        if self.seg_key.size == 0:
            return self.room_topic[ri]
        idx = last_le(self.seg_key, ri, t)
        j = np.maximum(idx, 0)
        same = (idx >= 0) & ((self.seg_key[j] >> 32) == ri)
        return np.where(same, self.seg_topic[j], self.room_topic[ri])


class Truth:
    """The model's probability functions over index arrays (users, streamers, rooms of this Truth).

    users: dict of float32 arrays bias, engage, comment, like, gift, price_tilt; U: (n_users, d) factors.
    streamers: log_pop (float32), category (int8); V: (n_streamers, d) factors.
    rooms: streamer (int32), start, end (true end, int64 ms), and category (int8) with content_drift.
    Highlights: sorted keys interval_key(room, start) with their ends. Favourites: (n_users, k) streamer
    indices, -1 padded. content: the rooms' own content (content_drift on), else None.
    """

    def __init__(self, params: SimParams, users: dict[str, np.ndarray], U: np.ndarray,
                 streamers: dict[str, np.ndarray], V: np.ndarray, rooms: dict[str, np.ndarray],
                 hl_key: np.ndarray, hl_end: np.ndarray, fav: np.ndarray, content: Content | None = None):
        self.p = params
        self.users, self.U, self.streamers, self.V, self.rooms = users, U, streamers, V, rooms
        self.hl_key, self.hl_end, self.fav, self.content = hl_key, hl_end, fav, content
        self.feed_mass: np.ndarray | None = None  # (slots, categories): set by Oracle.load for exposure_prob
        self._by_streamer: tuple[np.ndarray, np.ndarray] | None = None
        self.weekend_tilt = np.asarray(params.weekend_tilt, dtype=np.float64)
        self.n_streamers = int(V.shape[0])
        self.tod = tod_grid(params)
        w = np.asarray(params.price_weights, dtype=np.float64)
        self.unit_logw = np.log(w / w.sum())
        self.units = np.asarray(params.price_units, dtype=np.float64)
        cw = np.asarray(params.gift_count_weights, dtype=np.float64)
        self.count_probs = cw / cw.sum()
        self.mean_count = float((self.count_probs * np.asarray(params.gift_counts)).sum())
        self._mean_unit: np.ndarray | None = None
        # Per-room CSR over the highlight windows (built once: the look-ups run on several threads).
        counts = np.bincount(hl_key >> 32, minlength=rooms["start"].size) if hl_key.size else np.zeros(0, np.int64)
        self._hl_first = np.cumsum(counts) - counts
        self._hl_count = counts
        self._hl_start = (hl_key & 0xFFFFFFFF) + T_BASE_MS

    # --- look-ups -------------------------------------------------------------------------------
    def affinity(self, ui: np.ndarray, si: np.ndarray) -> np.ndarray:
        """Taste match u . v / sqrt(d) (about unit variance), float64."""
        return self._dot(self.V, ui, si)

    def _dot(self, M: np.ndarray, ui: np.ndarray, mi: np.ndarray) -> np.ndarray:
        """U[ui] . M[mi] / sqrt(d) per pair, summed in float64 (bit-exact whatever the batch)."""
        out = np.empty(len(ui), dtype=np.float64)
        scale = 1.0 / np.sqrt(self.U.shape[1])

        def work(lo: int, hi: int) -> None:
            for a in range(lo, hi, CHUNK):
                b = min(a + CHUNK, hi)
                out[a:b] = (self.U[ui[a:b]] * M[mi[a:b]]).sum(axis=1, dtype=np.float64) * scale

        parallel_chunks(work, len(ui))
        return out

    def match(self, ui: np.ndarray, ri: np.ndarray, si: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The user-room match at t: the taste match with the streamer, mixed (content_drift) with the room's
        current topic, rescaled to about unit variance."""
        a = self.affinity(ui, si)
        if self.content is None:
            return a
        return self._mix(a, self._dot(self.content.topics, ui, self.content.topic_at(ri, t)))

    def average_match(self, ui: np.ndarray, si: np.ndarray) -> np.ndarray:
        """The match with the streamer's average content instead of the room's at t (what a content-blind
        model could know); the taste match when rooms have no content of their own."""
        a = self.affinity(ui, si)
        if self.content is None or self.content.streamer_mean is None:
            return a
        return self._mix(a, self._dot(self.content.streamer_mean, ui, si))

    def _mix(self, a_streamer: np.ndarray, a_content: np.ndarray) -> np.ndarray:
        kappa = self.p.content_weight
        rho = self.p.category_weight if self.p.category_clusters else 0.0
        norm = np.sqrt(1.0 + 2.0 * np.sqrt(kappa * (1 - kappa)) * rho)
        return (np.sqrt(1 - kappa) * a_streamer + np.sqrt(kappa) * a_content) / norm

    def room_category(self, ri: np.ndarray) -> np.ndarray:
        """Each room's category: its own with content_drift, else its streamer's."""
        if "category" in self.rooms:
            return self.rooms["category"][ri]
        return self.streamers["category"][self.rooms["streamer"][ri]]

    # --- exposure: what the feed shows (benchmark/sim/feed.py's rules) ----------------------------------
    def feed_intensity(self, c: Context) -> np.ndarray:
        """The feed's exposure intensity of room c.ri at c.t, in slots of median-popularity live time per slot:
        popularity ** feed_pop_exponent, x hl_traffic_boost inside a highlight (platform_traffic), plus the
        exploration burst after the room starts (room_age). feed.slot_mass is its integral over a slot."""
        p = self.p
        popw = np.exp(p.feed_pop_exponent * self.streamers["log_pop"][c.si].astype(np.float64))
        if p.platform_traffic and p.highlights:
            popw = popw * (1.0 + (p.hl_traffic_boost - 1.0) * c.hl)
        if p.room_age:
            tau = p.fresh_tau_min * MINUTE_MS
            age = np.maximum(c.t - self.rooms["start"][c.ri], 0)
            popw = popw + p.fresh_boost * MINUTE_MS / tau * np.exp(-age / tau)
        return popw

    def exposure_prob(self, c: Context) -> np.ndarray:
        """P(a feed request of user c.ui at c.t shows room c.ri), by the feed's rules: with probability
        fav_share (when a favourite is live) one of the live favourites at random, else a category by the
        user's (weekend-tilted) tastes and a room of it by its intensity over the category's mass in the slot.
        Needs the feed's mass per (slot, category) (`feed_mass`, oracle/latent/feed_mass.npy)."""
        if self.feed_mass is None:
            raise BenchmarkError("oracle: no feed_mass (an oracle folder written before exposure-aware topk)")
        p = self.p
        live = (self.rooms["start"][c.ri] <= c.t) & (c.t < self.rooms["end"][c.ri])
        n_fav = self.live_favourites(c.ui, c.t)
        p_fav = self.users["fav_share"][c.ui].astype(np.float64) * (n_fav > 0)
        via_fav = np.where(c.fav, 1.0 / np.maximum(n_fav, 1), 0.0)
        taste = self.users["taste"][c.ui].astype(np.float64)
        cat = self.room_category(c.ri).astype(np.int64)
        share = np.take_along_axis(taste, cat[:, None], axis=1)[:, 0] / taste.sum(axis=1)
        if p.weekly_rhythm:
            tilted = taste * np.exp(p.weekend_taste * self.weekend_tilt)[None, :]
            share = np.where(c.weekend, np.take_along_axis(tilted, cat[:, None], axis=1)[:, 0] / tilted.sum(axis=1),
                             share)
        slot = np.clip((c.t - T0_MS) // (p.bin_min * MINUTE_MS), 0, self.feed_mass.shape[0] - 1)
        mass = self.feed_mass[slot, cat]
        via_feed = share * self.feed_intensity(c) / np.maximum(mass, 1e-12)
        return np.where(live, p_fav * via_fav + (1.0 - p_fav) * np.minimum(via_feed, 1.0), 0.0)

    def live_favourites(self, ui: np.ndarray, t: np.ndarray) -> np.ndarray:
        """How many of user ui's favourite streamers have a room live at t (among this Truth's rooms)."""
        if self._by_streamer is None:
            key = interval_key(self.rooms["streamer"], self.rooms["start"])
            order = np.argsort(key, kind="stable")
            self._by_streamer = (key[order], order)
        keys, order = self._by_streamer
        n = np.zeros(len(ui), dtype=np.int64)
        for j in range(self.fav.shape[1]):
            fs = self.fav[ui, j]
            idx = last_le(keys, np.maximum(fs, 0), t)
            r = order[np.maximum(idx, 0)]
            n += (fs >= 0) & (idx >= 0) & (self.rooms["streamer"][r] == fs) & (t < self.rooms["end"][r])
        return n

    def is_favourite(self, ui: np.ndarray, si: np.ndarray) -> np.ndarray:
        """Whether streamer si is one of user ui's favourites."""
        out = np.zeros(len(ui), dtype=bool)
        for j in range(self.fav.shape[1]):
            out |= self.fav[ui, j] == si
        return out

    def in_highlight(self, ri: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Whether time t falls inside one of room ri's highlight windows [start, end)."""
        ri = np.asarray(ri, dtype=np.int64)
        t = np.asarray(t, dtype=np.int64)
        out = np.zeros(ri.size, dtype=bool)
        if self.hl_key.size == 0:
            return out
        # Windows of a room are few and sorted: scan them in step, keeping only rooms with more left.
        act = np.nonzero(self._hl_count[ri] > 0)[0]
        j = 0
        while act.size:
            w = self._hl_first[ri[act]] + j
            tt = t[act]
            started = self._hl_start[w] <= tt
            out[act[started & (tt < self.hl_end[w])]] = True
            act = act[started & (self._hl_count[ri[act]] > j + 1)]
            j += 1
        return out

    def context(self, ui: np.ndarray, ri: np.ndarray, t: np.ndarray) -> Context:
        """Match, favourite flag and highlight flag of each (user, room, time)."""
        ui = np.asarray(ui, dtype=np.int64)
        ri = np.asarray(ri, dtype=np.int64)
        t = np.asarray(t, dtype=np.int64)
        si = self.rooms["streamer"][ri].astype(np.int64)
        aff = self.match(ui, ri, si, t)
        fav = parallel_concat(lambda a, b: self.is_favourite(ui[a:b], si[a:b]), len(ui))
        hl = parallel_concat(lambda a, b: self.in_highlight(ri[a:b], t[a:b]), len(ui))
        return Context(ui, ri, si, t, aff, fav, hl, is_weekend(t))

    # --- click ------------------------------------------------------------------------------------
    def click_logit(self, c: Context) -> np.ndarray:
        """The click logit: user bias, affinity, popularity, favourite, highlight, time of day, room age."""
        p = self.p
        minute = ((c.t + TZ_OFFSET_MS) % DAY_MS) // MINUTE_MS
        age_min = np.maximum(c.t - self.rooms["start"][c.ri], 0) / MINUTE_MS
        z = (p.click_base + self.users["bias"][c.ui] + p.click_affinity * c.affinity
             + p.click_popularity * self.streamers["log_pop"][c.si] + p.click_favourite * c.fav
             + self.tod[minute])
        if p.highlights:
            z = z + p.click_highlight * c.hl
        if p.room_age:
            z = z + p.click_age * (0.5 - np.exp(-age_min / p.warm_tau_min))
        if p.weekly_rhythm:
            z = z + p.weekend_click * self.weekend_tilt[self.room_category(c.ri)] * c.weekend
        return z

    def click_prob(self, c: Context) -> np.ndarray:
        return parallel_concat(lambda a, b: expit(self.click_logit(c.slice(a, b))), len(c.t))

    # --- after a click ----------------------------------------------------------------------------
    def engage_prob(self, c: Context) -> np.ndarray:
        """P(the session is engaged rather than a bounce)."""
        p = self.p
        z = (p.engage_base + self.users["engage"][c.ui] + p.engage_affinity * c.affinity
             + p.engage_favourite * c.fav)
        if p.match_value:
            z = z + p.engage_match * (c.affinity - p.match_centre)
        if p.highlights:
            z = z + p.engage_highlight * c.hl
        return expit(z)

    def watch_mu(self, c: Context) -> tuple[np.ndarray, float]:
        """Log-ms location of the engaged (per sample) and bounce (constant) watch lognormals."""
        p = self.p
        mu_e = np.log(p.watch_engaged_median_s * 1000.0) + p.watch_affinity * c.affinity
        if p.match_value:
            mu_e = mu_e + p.watch_match * (c.affinity - p.match_centre)
        return mu_e, float(np.log(p.watch_bounce_median_s * 1000.0))

    def time_left(self, c: Context) -> np.ndarray:
        """Milliseconds until the room truly ends (watch is cut there), at least 1."""
        return np.maximum(self.rooms["end"][c.ri] - c.t, 1)

    def expected_watch(self, c: Context) -> np.ndarray:
        return parallel_concat(lambda a, b: self._expected_watch(c.slice(a, b)), len(c.t))

    def _expected_watch(self, c: Context) -> np.ndarray:
        q = self.engage_prob(c)
        mu_e, mu_b = self.watch_mu(c)
        cap = self.time_left(c)
        return (q * lognormal_min_mean(mu_e, self.p.watch_engaged_sigma, cap)
                + (1 - q) * lognormal_min_mean(np.full(len(cap), mu_b), self.p.watch_bounce_sigma, cap))

    def p_watch_at_least(self, c: Context, threshold_ms: float) -> np.ndarray:
        """P(watch >= threshold_ms): the engaged/bounce lognormal mixture, 0 where the room ends first."""
        q = self.engage_prob(c)
        mu_e, mu_b = self.watch_mu(c)
        lt = np.log(max(float(threshold_ms), 1e-9))
        p = (q * (1.0 - ndtr((lt - mu_e) / self.p.watch_engaged_sigma))
             + (1 - q) * (1.0 - ndtr((lt - mu_b) / self.p.watch_bounce_sigma)))
        return np.where(self.time_left(c) >= threshold_ms, p, 0.0)

    def event_probs(self, c: Context, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """P(kind | engaged), P(kind | bounce) for kind in comment, like, gift."""
        p = self.p
        base, aff, bounce = (getattr(p, f"{kind}_base"), getattr(p, f"{kind}_affinity"),
                             getattr(p, f"{kind}_bounce"))
        z = base + self.users[kind][c.ui].astype(np.float64)
        if not p.funnel:
            pe = expit(z + OFF_FUNNEL_ODDS)
            return pe, pe
        z = z + aff * c.affinity
        if kind == "gift":
            z = z + p.gift_favourite * c.fav
        return expit(z), expit(z + bounce)

    def event_prob(self, c: Context, kind: str) -> np.ndarray:
        q = self.engage_prob(c)
        pe, pb = self.event_probs(c, kind)
        return q * pe + (1 - q) * pb

    def unit_probs(self, ui: np.ndarray, match: np.ndarray | None = None) -> np.ndarray:
        """(n, n_units) gift unit-price distribution: weight * unit ** tilt, normalised; the tilt is the user's,
        plus price_match x the user-room match with match_value."""
        tilt = self.users["price_tilt"][np.asarray(ui, dtype=np.int64)].astype(np.float64)
        if match is not None and self.p.match_value:
            tilt = tilt + self.p.price_match * (np.asarray(match, dtype=np.float64) - self.p.match_centre)
        logits = self.unit_logw[None, :] + tilt[:, None] * np.log(self.units)[None, :]
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        return w / w.sum(axis=1, keepdims=True)

    def expected_gift_value(self, c: Context) -> np.ndarray:
        """p_gift x E[unit price | user, match] x E[count]."""
        if self.p.match_value:
            return parallel_concat(lambda a, b: np.concatenate([self._gift_value(c.slice(i, min(i + CHUNK // 8, b)))
                                                                for i in range(a, b, CHUNK // 8)] or [np.zeros(0)]),
                                   len(c.t))
        if self._mean_unit is None:
            self._mean_unit = self.unit_probs(np.arange(self.U.shape[0])) @ self.units
        return self.event_prob(c, "gift") * self._mean_unit[c.ui] * self.mean_count


    def _gift_value(self, c: Context) -> np.ndarray:
        return self.event_prob(c, "gift") * (self.unit_probs(c.ui, c.affinity) @ self.units) * self.mean_count


def streamer_mean_content(p: SimParams, titles, streamer_ids: np.ndarray, main_category: np.ndarray,
                          topics: np.ndarray, topic_cat: np.ndarray) -> np.ndarray:
    """Each streamer's expected room topic factor under the content model: a titled room (1 - p_no_title)
    opens on its title's topic (title_topic_share) or a topic of the title's category, averaged over the
    streamer's titles; an untitled one on a topic of the streamer's main category."""
    n_cat = int(topic_cat.max()) + 1
    cat_mean = np.stack([topics[topic_cat == c].mean(axis=0) for c in range(n_cat)]).astype(np.float64)
    s = _index(streamer_ids, titles["streamer_id"].to_numpy(), "streamer")
    share = p.title_topic_share
    per_title = share * topics[titles["topic"].to_numpy()] + (1 - share) * cat_mean[titles["category_code"].to_numpy()]
    n_titles = np.bincount(s, minlength=streamer_ids.size).astype(np.float64)
    titled = np.stack([np.bincount(s, weights=per_title[:, j], minlength=streamer_ids.size)
                       for j in range(topics.shape[1])], axis=1) / np.maximum(n_titles, 1)[:, None]
    untitled = cat_mean[main_category]
    titled = np.where(n_titles[:, None] > 0, titled, untitled)
    return ((1 - p.p_no_title) * titled + p.p_no_title * untitled).astype(np.float32)


# --- the id-based Oracle over oracle/latent/ ------------------------------------------------------
LATENT_USERS = ("bias", "engage", "comment", "like", "gift", "price_tilt")


def _index(sorted_ids: np.ndarray, ids: np.ndarray, what: str) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), max(sorted_ids.size - 1, 0))
    bad = sorted_ids[pos] != ids if sorted_ids.size else np.ones(ids.size, dtype=bool)
    if bad.any():
        raise BenchmarkError(f"oracle: unknown {what} id {int(ids[np.argmax(bad)])} ({int(bad.sum())} unknown)")
    return pos


BLIND = ("highlights", "content", "rhythm")  # what an Oracle ablation hides (Oracle.variants)


class Oracle:
    """The simulator's ground truth for any (user, room, time), by id; load it with Oracle.load."""

    def __init__(self, truth: Truth, user_ids: np.ndarray, streamer_ids: np.ndarray, live_ids: np.ndarray,
                 highlight_share: float = 0.0):
        self.truth = truth
        self.user_ids, self.streamer_ids, self.live_ids = user_ids, streamer_ids, live_ids
        self.highlight_share = highlight_share  # share of the rooms' live time inside highlight windows

    def variants(self, user_ids, live_ids, ts, blind: str | None = None) -> list[tuple[float, Context]]:
        """The truth's contexts for these samples with one thing hidden, each with its prior weight.

        None: the one true context. highlights: in or out of a highlight, weighted by the windows' share of
        live time. rhythm: a weekend or a weekday, 2/7 and 5/7. content: the streamer's average content in
        place of the room's at t. A caller mixes what it computes over them (weights sum to 1).
        """
        c = self._context(user_ids, live_ids, ts)
        if blind is None:
            return [(1.0, c)]
        if blind == "highlights":
            pi = self.highlight_share
            return [(pi, replace(c, hl=np.ones_like(c.hl))), (1.0 - pi, replace(c, hl=np.zeros_like(c.hl)))]
        if blind == "rhythm":
            return [(2 / 7, replace(c, weekend=np.ones_like(c.weekend))),
                    (5 / 7, replace(c, weekend=np.zeros_like(c.weekend)))]
        if blind == "content":
            return [(1.0, replace(c, affinity=self.truth.average_match(c.ui, c.si)))]
        raise BenchmarkError(f"oracle: blind must be one of {', '.join(BLIND)}, not '{blind}'")

    @classmethod
    def load(cls, oracle_dir: Path) -> Oracle:
        """Rebuild the Truth from oracle/latent/ (as written by the simulator)."""
        lat = Path(oracle_dir) / "latent"
        if not (lat / "params.json").exists():
            raise BenchmarkError(f"{lat}: no params.json (not a KuaiLive-Sim oracle folder)")
        meta = json.loads((lat / "params.json").read_text())
        params = from_dict(meta["params"])
        u = pq.read_table(lat / "users.parquet")
        s = pq.read_table(lat / "streamers.parquet")
        r = pq.read_table(lat / "rooms.parquet")
        h = pq.read_table(lat / "highlights.parquet")
        f = pq.read_table(lat / "favourites.parquet")
        user_ids = u["user_id"].to_numpy()
        streamer_ids = s["streamer_id"].to_numpy()
        live_ids = r["live_id"].to_numpy()
        users = {k: u[k].to_numpy() for k in LATENT_USERS}
        users["fav_share"] = u["fav_share"].to_numpy()
        users["taste"] = np.stack([u[f"taste_{c}"].to_numpy() for c in CATEGORIES], axis=1)
        streamers = {"log_pop": s["log_pop"].to_numpy(), "category": s["category_code"].to_numpy()}
        rooms = {"streamer": _index(streamer_ids, r["streamer_id"].to_numpy(), "streamer").astype(np.int32),
                 "start": r["start_ts"].to_numpy(), "end": r["true_end_ts"].to_numpy()}
        h_room = _index(live_ids, h["live_id"].to_numpy(), "room")
        hl_key = interval_key(h_room, h["start_ts"].to_numpy())
        order = np.argsort(hl_key, kind="stable")
        fu = _index(user_ids, f["user_id"].to_numpy(), "user")
        fs = _index(streamer_ids, f["streamer_id"].to_numpy(), "streamer")
        rank = f["rank"].to_numpy().astype(np.int64)
        fav = np.full((len(user_ids), max(int(params.max_favourites), 1)), -1, dtype=np.int64)
        fav[fu, rank] = fs
        content = None
        if params.content_drift:
            rooms["category"] = r["category_code"].to_numpy()
            seg = pq.read_table(lat / "segments.parquet")
            seg_key = interval_key(_index(live_ids, seg["live_id"].to_numpy(), "room"), seg["start_ts"].to_numpy())
            so = np.argsort(seg_key, kind="stable")
            topics = np.load(lat / "topic_factors.npy")
            topic_cat = (np.arange(topics.shape[0]) // params.topics_per_category).astype(np.int8)
            content = Content(topics, topic_cat, r["topic"].to_numpy(), seg_key[so], seg["topic"].to_numpy()[so])
            if (lat / "titles.parquet").exists():
                content.streamer_mean = streamer_mean_content(params, pq.read_table(lat / "titles.parquet"),
                                                              streamer_ids, streamers["category"], topics, topic_cat)
        truth = Truth(params, users, np.load(lat / "user_factors.npy"), streamers,
                      np.load(lat / "streamer_factors.npy"), rooms, hl_key[order],
                      h["end_ts"].to_numpy()[order], fav, content)
        if (lat / "feed_mass.npy").exists():
            truth.feed_mass = np.load(lat / "feed_mass.npy")
        live_ms = np.maximum(rooms["end"] - rooms["start"], 0).sum()
        hl_ms = np.maximum(h["end_ts"].to_numpy() - h["start_ts"].to_numpy(), 0).sum()
        return cls(truth, user_ids, streamer_ids, live_ids, float(hl_ms / max(live_ms, 1)))

    def _context(self, user_ids, live_ids, ts) -> Context:
        ts = np.asarray(ts, dtype=np.int64)
        ui = _index(self.user_ids, user_ids, "user")
        ri = _index(self.live_ids, live_ids, "room")
        if not (len(ui) == len(ri) == len(ts)):
            raise BenchmarkError("oracle: user_ids, live_ids and ts must have the same length")
        return self.truth.context(ui, ri, ts)

    def click_prob(self, user_ids, live_ids, ts) -> np.ndarray:
        """True P(click) of showing room live_id to user_id at ts (epoch ms), for any user, room and time."""
        return self.truth.click_prob(self._context(user_ids, live_ids, ts))

    def in_highlight(self, live_ids, ts) -> np.ndarray:
        """Whether each room is inside a highlight moment at ts."""
        ri = _index(self.live_ids, live_ids, "room")
        return self.truth.in_highlight(ri, np.asarray(ts, dtype=np.int64))

    def expected_watch_ms(self, user_ids, live_ids, ts) -> np.ndarray:
        """Expected watch (ms) of a click at ts, cut at the room's true end."""
        return self.truth.expected_watch(self._context(user_ids, live_ids, ts))

    def p_long_view(self, user_ids, live_ids, ts, threshold_ms: float) -> np.ndarray:
        """P(the click at ts is watched for at least threshold_ms)."""
        return self.truth.p_watch_at_least(self._context(user_ids, live_ids, ts), threshold_ms)

    def p_comment(self, user_ids, live_ids, ts) -> np.ndarray:
        """P(the click at ts yields a comment)."""
        return self.truth.event_prob(self._context(user_ids, live_ids, ts), "comment")

    def p_like(self, user_ids, live_ids, ts) -> np.ndarray:
        """P(the click at ts yields a like)."""
        return self.truth.event_prob(self._context(user_ids, live_ids, ts), "like")

    def p_gift(self, user_ids, live_ids, ts) -> np.ndarray:
        """P(the click at ts yields a gift)."""
        return self.truth.event_prob(self._context(user_ids, live_ids, ts), "gift")

    def expected_gift_value(self, user_ids, live_ids, ts) -> np.ndarray:
        """Expected gift_price the click at ts yields (0 gifts count as 0)."""
        return self.truth.expected_gift_value(self._context(user_ids, live_ids, ts))
