"""What each room shows (content_drift): a bank of topics inside the categories, each streamer's titles with
their category and topic, each room's title, category and opening topic, and the unannounced content changes
of long rooms. Only behaviour reveals a change: room.csv keeps the room's category and title."""

from __future__ import annotations

import numpy as np

from benchmark.sim.oracle import MINUTE_MS, Content, interval_key
from benchmark.sim.presets import CATEGORIES, SimParams
from benchmark.sim.vectorised import HOUR_MS, sorted_positions

MIN_SEGMENT_MS = MINUTE_MS  # content changes at least a minute after the start


def _topic_in(rng: np.random.Generator, p: SimParams, category: np.ndarray) -> np.ndarray:
    """A uniformly drawn topic of each given category (topics are numbered category by category)."""
    k = p.topics_per_category
    return (category.astype(np.int32) * k + rng.integers(0, k, category.size)).astype(np.int32)


def make_topics(p: SimParams, rng: np.random.Generator, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Topic factors clustered by category exactly as streamer factors are, and each topic's category."""
    n_cat, d = centroids.shape
    cat = np.repeat(np.arange(n_cat, dtype=np.int8), p.topics_per_category)
    rho = p.category_weight if p.category_clusters else 0.0
    T = np.sqrt(rho) * centroids[cat] + np.sqrt(1 - rho) * rng.standard_normal((cat.size, d))
    return T.astype(np.float32), cat


def title_contents(p: SimParams, rng: np.random.Generator, st: dict) -> None:
    """Each title's category (variety streamers' second title is of their second category) and topic, in `st`."""
    n, k = st["category"].size, len(CATEGORIES)
    shares = np.asarray(p.category_shares)
    second = rng.choice(k, size=n, p=shares / shares.sum()).astype(np.int8)
    clash = second == st["category"]
    second[clash] = ((second[clash] + 1) % k).astype(np.int8)
    variety = rng.random(n) < p.variety_share
    n_titles = int(st["n_titles"].sum())
    owner = np.repeat(np.arange(n), st["n_titles"])
    slot = np.arange(n_titles) - st["title_first"][owner]
    use_second = variety[owner] & ((slot == 1) | ((slot > 1) & (rng.random(n_titles) < 0.5)))
    st["title_category"] = np.where(use_second, second[owner], st["category"][owner]).astype(np.int8)
    st["title_topic"] = _topic_in(rng, p, st["title_category"])
    st["variety"] = variety


def make_content(p: SimParams, rng: np.random.Generator, st: dict, rooms: dict, centroids: np.ndarray) -> Content:
    """Titles, categories and topics of every room (set in `rooms`), and the content changes of long rooms."""
    T, topic_cat = make_topics(p, rng, centroids)
    title_contents(p, rng, st)
    s = rooms["streamer"].astype(np.int64)
    nr = s.size
    slot = (rng.random(nr) * st["n_titles"][s]).astype(np.int64)
    title = st["title_first"][s] + slot
    titled = rng.random(nr) >= p.p_no_title
    title = np.where(titled, title, -1).astype(np.int32)
    t0 = np.maximum(title, 0)
    category = np.where(titled, st["title_category"][t0], st["category"][s]).astype(np.int8)
    own = titled & (rng.random(nr) < p.title_topic_share)
    topic = np.where(own, st["title_topic"][t0], _topic_in(rng, p, category)).astype(np.int32)
    rooms["title"], rooms["category"] = title, category

    # Content changes: Poisson(rate x live hours) at uniform times after the first minute, in room order.
    span = np.maximum(rooms["end"] - rooms["start"] - MIN_SEGMENT_MS, 0).astype(np.float64)
    m = rng.poisson(p.segment_rate_per_h * span / HOUR_MS)
    has = np.nonzero(m)[0]
    m = m[has].astype(np.int64)
    r = np.repeat(has, m)
    pos = sorted_positions(rng, m)
    seg_start = rooms["start"][r] + MIN_SEGMENT_MS + (pos * span[r]).astype(np.int64)
    from_title = rng.random(r.size) < p.segment_title_share
    other = st["title_first"][s[r]] + (rng.random(r.size) * st["n_titles"][s[r]]).astype(np.int64)
    seg_topic = np.where(from_title, st["title_topic"][other], _topic_in(rng, p, category[r])).astype(np.int32)
    return Content(T, topic_cat, topic, interval_key(r, seg_start), seg_topic)
