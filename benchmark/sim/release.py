"""The release: profiles, ids, room rows per p_date, title embeddings and the release's quirks, written
as the real KuaiLive files (and the oracle's latent tables) through a Sink."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from scipy.special import expit

from benchmark.data import schema
from benchmark.data.schema import DAY_MS
from benchmark.sim.feed import Exposures
from benchmark.sim.funnel import Funnel, Unlogged
from benchmark.sim.oracle import (
    CAP_MS,
    N_DAYS,
    T0_MS,
    T1_MS,
    T_BASE_MS,
    packed_argsort,
    parallel_chunks,
)
from benchmark.sim.presets import CATEGORIES, SimParams
from benchmark.sim.vectorised import HOUR_MS, seg_positions, sparse_ids
from benchmark.sim.world import World


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


def user_profiles(p: SimParams, rng: np.random.Generator, w: World, sel: np.ndarray, stats: dict,
                  rp: np.random.Generator) -> dict:
    """user.csv columns: a 2025-05-25 snapshot, noisy functions of the latent state and whole-window activity.

    platform_profiles: the watch counts are the user's lifetime ones, their history at the user's latent rate
    (drawn from `rp`) plus the window, so the window's clicks are about 21 days of a tenure of years.
    """
    n = sel.size
    U = w.U[sel].astype(np.float64)
    tenure = np.exp(rng.uniform(np.log(60), np.log(4500), n))
    reg = SNAPSHOT_DAY - tenure.astype(np.int64)
    first_watch = reg + (rng.random(n) ** 2 * tenure * 0.5).astype(np.int64)
    watch_years = (SNAPSHOT_DAY - first_watch + 21) / 21.0
    life = np.sqrt(watch_years) * np.exp(0.3 * rng.standard_normal(n))
    if p.platform_profiles:
        past_days = np.maximum(SNAPSHOT_DAY - first_watch - 21, 0).astype(np.float64)  # before the window
        rate = stats["expected_clicks"] / 21.0 * np.exp(0.5 * rp.standard_normal(n) - 0.125)
        accu_cnt = rate * past_days + stats["clicks"]
        accu_dur = rate * past_days * stats["mean_watch_ms"] + stats["watch_ms"]
        activity = stats["expected_clicks"]
    else:
        accu_cnt = stats["clicks"] * life * 3
        accu_dur = stats["watch_ms"] * life * 3
        activity = stats["clicks"]
    age = 30 - 5 * U[:, 0] + 8 * rng.standard_normal(n)
    age_lab = _bins(age, [0, 18, 24, 31, 41, 50], ["12-17", "18-23", "24-30", "31-40", "41-49", "50+"])
    age_lab[rng.random(n) < 0.015] = "UNKNOWN"
    gender = np.where(U[:, 1] + 0.8 * rng.standard_normal(n) > 0, "M", "F").astype(object)
    wealth = w.users["z_gift"][sel] * 0.8 + 0.6 * rng.standard_normal(n)
    brand, dev_price = _device(rng, wealth, 0.03)
    streams = rng.random(n) < expit(-3.3 + 0.8 * w.users["social"][sel])
    photo = rng.random(n) < expit(-1.6 + 0.6 * w.users["social"][sel])
    fans = np.exp(1.0 + 1.2 * rng.standard_normal(n) + 3.0 * streams + 1.0 * photo)
    follow = np.exp(2.0 + 0.5 * np.log1p(stats["favourites"]) + 0.4 * np.log1p(activity)
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


def platform_plays(p: SimParams, rp: np.random.Generator, w: World, stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each streamer's plays and watch over the window by the whole platform audience, in sampled-user units.

    The platform audience of a room follows its exploitation weight (popularity ** feed_pop_exponent per live
    minute) and clicks more on popular streamers; the total is the sampled users' clicks, scaled. The sampled
    users' own clicks enter with weight 1 / platform_scale: a negligible part, as on the real platform.
    """
    log_pop = w.streamers["log_pop"].astype(np.float64)
    mass = stats["live_ms"] * np.exp((p.feed_pop_exponent + 0.5 * p.click_popularity) * log_pop)
    noise = np.exp(0.3 * rp.standard_normal(mass.size) - 0.045)
    total = stats["clicks"].sum()
    plays = total * mass / max(mass.sum(), 1e-12) * noise
    mean_watch = stats["watch_ms"].sum() / max(total, 1.0)
    scale = 1.0 / p.platform_scale
    return plays + scale * stats["clicks"], plays * mean_watch + scale * stats["watch_ms"]


def streamer_profiles(p: SimParams, rng: np.random.Generator, w: World, stats: dict) -> dict:
    """streamer.csv columns: snapshot of popularity, category, and whole-window activity (future included).

    stats["clicks"] and stats["watch_ms"] are the platform's (platform_profiles) or the sampled users'.
    """
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


def title_embeddings(p: SimParams, rng: np.random.Generator, w: World, titles: np.ndarray) -> np.ndarray:
    """128-d title vectors: category centre + the streamer's style (its factors projected) + noise, PCA-like scale.

    content_drift: the title's own category, and a style mixing the streamer's factors with the title's topic.
    Drawn in fixed chunks of rows, each from its own generator seeded from `rng`, on parallel threads.
    """
    st = w.streamers
    streamer_of_title = np.searchsorted(st["title_first"], titles, side="right") - 1
    if w.content is not None:
        kappa = np.float32(p.content_weight)
        cat_of = st["title_category"][titles]
        topic = w.content.topics[st["title_topic"][titles]]
        style = np.sqrt(1 - kappa) * w.V[streamer_of_title] + np.sqrt(kappa) * topic
    else:
        cat_of = st["category"][streamer_of_title]
        style = None
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
            rows = slice(c * step, (c + 1) * step)
            s = streamer_of_title[rows]
            g = np.random.Generator(np.random.PCG64(int(seeds[c])))
            x = (a_c * centre[cat_of[rows]] + np.float32(0.6) * ((w.V[s] if style is None else style[rows]) @ proj)
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


def assemble(p: SimParams, rngs: dict, w: World, ex: Exposures, fu: Funnel, un: Unlogged, sel: np.ndarray,
             sink: Sink) -> dict[str, int]:
    """Restrict to the kept users and emit every release table, the embeddings and the oracle to `sink`.

    Pool-sized arrays are dropped (ex and fu's exposure-level arrays) as soon as their kept parts are taken.
    """
    n_pool, n_u = w.U.shape[0], sel.size
    n_exposures_pool = ex.user.size
    new_u = np.full(n_pool, -1, dtype=np.int64)
    new_u[sel] = np.arange(n_u)
    rid = rngs["ids"]
    # User ids increase with the (random) pool order, so (time, user) order is (timestamp, user_id) order.
    user_ids = np.sort(sparse_ids(rid, n_u, 2, 0))
    streamer_ids = sparse_ids(rid, p.n_streamers, 2, 0)

    # Click-level pool arrays (for events), then the kept exposures, already in (timestamp, user_id) order.
    cidx = fu.cidx
    c_user, c_room = ex.user[cidx], ex.room[cidx]
    keep = np.nonzero(new_u[ex.user] >= 0)[0]
    e_user, e_room, e_t = new_u[ex.user[keep]], ex.room[keep].astype(np.int64), ex.t[keep]
    e_click, e_p, e_hl = fu.clicked[keep], fu.p_click[keep], fu.in_hl[keep]
    ci = np.searchsorted(cidx, keep[e_click])  # click-array index of each written click, in written order
    del keep, cidx
    ex.free()
    fu.free_exposures()

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
    watch = fu.watch[ci]
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
    orc = fu.oracle
    sink.oracle("clicks", pa.table({"user_id": e_uid[e_click], "live_id": e_lid[e_click], "timestamp": e_t[e_click],
                                    **{k: orc[k][ci].astype(np.float32) for k in ("exp_watch_ms", "p_comment",
                                                                                  "p_like", "p_gift",
                                                                                  "exp_gift_value")}}))
    n_exposures, n_clicks = int(e_t.size), int(e_click.sum())
    del e_uid, e_lid, e_sid, e_p, e_hl, c_sid

    # In-room events of kept clicks plus the unlogged ones of kept users, sorted by (timestamp, user, room).
    kc = new_u[c_user] >= 0
    for j, kind in enumerate(("comment", "like", "gift")):
        ev = fu.events[kind]
        k_ok = kc[ev.click]
        ck = ev.click[k_ok]
        m_un = (new_u[un.user] >= 0) & (un.kind == j)
        users = user_ids[np.concatenate([new_u[c_user[ck]], new_u[un.user[m_un]]])]
        rooms = np.concatenate([c_room[ck], un.room[m_un]])
        lids = live_ids[room_new[rooms]]
        ts = np.concatenate([ev.ts[k_ok], un.ts[m_un]])
        o = np.lexsort((lids, users, ts))
        cols = {"user_id": users[o], "live_id": lids[o], "streamer_id": streamer_ids[w.rooms["streamer"][rooms]][o],
                "timestamp": ts[o]}
        if kind == "gift":
            cols["gift_price"] = np.concatenate([ev.price[k_ok], un.price[m_un]])[o]
        sink.csv(f"{kind}.csv", _table(getattr(schema, kind.upper()), cols))

    # Profiles: a snapshot of the latent state and of whole-window activity (the future included, as released).
    c_users = e_user[e_click]
    ustats = {"clicks": np.bincount(c_users, minlength=n_u).astype(np.float64),
              "watch_ms": np.bincount(c_users, weights=watch, minlength=n_u),
              "favourites": (w.fav[sel] >= 0).sum(axis=1).astype(np.float64)}
    # The users' expected window clicks at their latent request rate and the kept users' click-through.
    ustats["expected_clicks"] = w.users["requests"][sel] * n_clicks / max(w.users["requests"][sel].sum(), 1.0)
    ustats["mean_watch_ms"] = float(watch.mean()) if watch.size else 0.0
    c_streamers = w.rooms["streamer"][e_room[e_click]]
    sstats = {"clicks": np.bincount(c_streamers, minlength=p.n_streamers).astype(np.float64),
              "watch_ms": np.bincount(c_streamers, weights=watch, minlength=p.n_streamers),
              "rooms": np.bincount(w.rooms["streamer"], minlength=p.n_streamers).astype(np.float64),
              "live_ms": np.bincount(w.rooms["streamer"], weights=(w.rooms["end"] - w.rooms["start"]).astype(float),
                                     minlength=p.n_streamers)}
    rs_, rp = rngs["side"], rngs["platform"]
    if p.platform_profiles:
        sstats["clicks"], sstats["watch_ms"] = platform_plays(p, rp, w, sstats)
    sink.csv("user.csv", _table(schema.USER, {"user_id": user_ids, **user_profiles(p, rs_, w, sel, ustats, rp)}))
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
    if "title" in w.rooms:  # content_drift: the room's title was chosen with its content
        title = w.rooms["title"][wr]
    else:
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
    sink.embeddings(title_embeddings(p, rt, w, pairing))
    p_dates = np.array([int(str(np.datetime64("2025-05-05") + i).replace("-", "")) for i in range(N_DAYS)])
    ro = packed_argsort((row_day << 32) | rank[row_room])
    rr = row_room[ro]
    room_cat = w.rooms["category"][wr] if "category" in w.rooms else st["category"][r_s]
    cats = pa.array(list(CATEGORIES), pa.string()).take(pa.array(room_cat[rr].astype(np.int32)))
    sink.csv("room.csv", _table(schema.ROOM, {
        "p_date": p_dates[row_day[ro]], "live_id": live_ids[rr], "streamer_id": streamer_ids[r_s[rr]],
        "live_type": w.rooms["live_type"][wr][rr], "start_timestamp": r_start[rr], "end_timestamp": r_end_written[rr],
        "live_content_category": cats, "live_name_id": row_title_id[ro]}))
    return r_end_written


def _in_written_rooms(keys: np.ndarray, pos_in_sorted: np.ndarray,
                      live_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals keyed interval_key(pool room, start), sorted so, kept for written rooms and reordered by
    (live_id, start): their positions, live_ids and start times."""
    room = keys >> 32
    kept = np.nonzero(pos_in_sorted[room] >= 0)[0]
    o = kept[packed_argsort(pos_in_sorted[room[kept]])]
    return o, live_sorted[pos_in_sorted[room[o]]], (keys[o] & 0xFFFFFFFF) + T_BASE_MS


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
    rooms = {"live_id": live_ids[by_id], "streamer_id": streamer_ids[w.rooms["streamer"][rp]],
             "start_ts": w.rooms["start"][rp], "true_end_ts": w.rooms["end"][rp], "end_ts": r_end_written[by_id],
             "live_type": w.rooms["live_type"][rp]}
    if w.content is not None:
        rooms.update(category_code=w.rooms["category"][rp], topic=w.content.room_topic[rp])
    sink.latent("rooms", pa.table(rooms))
    pos_in_sorted = np.full(w.rooms["start"].size, -1, dtype=np.int64)
    pos_in_sorted[rp] = np.arange(rp.size)
    if w.content is not None:
        o, lid, start = _in_written_rooms(w.content.seg_key, pos_in_sorted, live_ids[by_id])
        sink.latent("segments", pa.table({"live_id": lid, "start_ts": start, "topic": w.content.seg_topic[o]}))
        sink.latent("topic_factors", w.content.topics)
        st_ = w.streamers
        owner = np.repeat(np.arange(st_["n_titles"].size), st_["n_titles"])
        slot = np.arange(owner.size) - st_["title_first"][owner]
        to = np.lexsort((slot, streamer_ids[owner]))
        sink.latent("titles", pa.table({"streamer_id": streamer_ids[owner][to], "slot": slot[to].astype(np.int16),
                                        "category_code": st_["title_category"][to], "topic": st_["title_topic"][to]}))
    if w.feed_mass is not None:
        sink.latent("feed_mass", w.feed_mass)
    o, lid, start = _in_written_rooms(w.hl_key, pos_in_sorted, live_ids[by_id])
    sink.latent("highlights", pa.table({"live_id": lid, "start_ts": start, "end_ts": w.hl_end[o]}))
    fu_, fj = np.nonzero(w.fav[sel] >= 0)
    sink.latent("favourites", pa.table({"user_id": user_ids[fu_], "streamer_id": streamer_ids[w.fav[sel][fu_, fj]],
                                        "rank": fj.astype(np.int8)}))
