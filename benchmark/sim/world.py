"""The world: streamers (popularity, category, latent factors, preferred hour), users (tastes, activity,
rhythm) and their favourite streamers, in pool index space; rooms come from `schedule`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, ndtr, ndtri

from benchmark.sim.content import make_content
from benchmark.sim.oracle import (
    STREAMER_PROFILE,
    USER_PROFILE,
    Content,
    Truth,
)
from benchmark.sim.presets import CATEGORIES, SimParams
from benchmark.sim.schedule import make_rooms
from benchmark.sim.vectorised import beta_with_mean, circ_hours, sample_hours

POP_OFF_Z = 0.8  # popularity_tail off: every streamer's popularity z-score (about the exposure-weighted mean)


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
    content: Content | None = None  # the rooms' own content (content_drift on)
    feed_mass: np.ndarray | None = None  # (slots, categories) the feed's total mass (set by the feed)

    def truth(self, p: SimParams) -> Truth:
        return Truth(p, self.users, self.U, self.streamers, self.V, self.rooms, self.hl_key, self.hl_end,
                     self.fav, self.content)


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
    content = make_content(p, rngs["content"], st, rooms, centroids) if p.content_drift else None
    users, U = make_users(p, rngs["users"], centroids)
    fav = make_favourites(p, rngs["favourites"], users, U, st, V)
    empty = np.zeros(0, np.int64)
    return World(st, V, centroids, rooms, room_key, empty, empty, users, U, fav, content)
