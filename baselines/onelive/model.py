"""OneLive: generative live-streaming recommendation over dynamic semantic ids (Wang et al., arXiv 2602.08612)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from baselines.onelive.decoder import ITEM_TIME, LEVELS, OneLiveDecoder
from baselines.onelive.tokenizer import (
    ResidualKMeans,
    TokenizerNet,
    author_vectors,
    fit_tokenizer,
    id_times,
    read_content,
)
from baselines.onelive.trie import PrefixTrie, beam_search
from benchmark.features.store import time_features
from benchmark.interface import Baseline, Candidates, Context

NAMED = 1e4          # added to a beam-search result's log-likelihood: every named candidate ranks above the rest
QUERY_CHUNK = 16     # queries decoded together (their prefixes' caches are gathered per chunk)


def item_time(event_ts: np.ndarray, request_ts: np.ndarray) -> np.ndarray:
    """A history token's time features: log gap to the request (hours), hour of day (sin, cos), weekend."""
    t = time_features(event_ts)
    angle = 2 * np.pi * t["hour"] / 24.0
    gap_h = np.maximum(np.asarray(request_ts, np.float64) - event_ts, 0) / 3.6e6
    return np.stack([np.log1p(gap_h) / 6.0, np.sin(angle), np.cos(angle), t["dow"] >= 5], -1).astype(np.float32)


def bos_time(ts: np.ndarray) -> np.ndarray:
    """The request's time features: hour of day (sin, cos), day of week (one-hot), weekend."""
    t = time_features(ts)
    angle = 2 * np.pi * t["hour"] / 24.0
    return np.concatenate([np.stack([np.sin(angle), np.cos(angle)], 1), np.eye(7)[t["dow"]],
                           (t["dow"] >= 5)[:, None]], 1).astype(np.float32)


class OneLive(Baseline):
    """OneLive (Wang et al., arXiv 2602.08612) on topk: rooms get 3-level semantic ids from their content,
    recomputed every `id_window_s` so a streamer's id moves with what its room shows (`dynamic_ids`; off: one id
    per streamer from its train content); a decoder with time-aware gated attention (`time_aware`) and QK norm
    (`qk_norm`) reads the user's clicks as ids and generates the next one, levels 1 and 2 by multi-token
    prediction (`mtp`; off: all three from the deep decoder); a beam search of `beam_width` constrained to the
    ids live at the request names its top `top_n` streamers, and every other live streamer ranks below them by
    its id's likelihood. Trained on every train click as the next item after the user's clicks before it.

    Adaptations (docs/onelive.md): the multimodal content model is the room's moment context, streamer rates,
    category, type and title embedding; the history's ids are those the fit logged, and a test-period click's is
    read again only when its room is still live for the request (else its streamer's last id before the test).
    """

    tasks = ("topk",)

    def __init__(self, embedding_size: int = 64, history: int = 20, layers: int = 3, heads: int = 4,
                 codebook_size: int = 256, id_window_s: int = 300, dynamic_ids: bool = True, time_aware: bool = True,
                 qk_norm: bool = True, mtp: bool = True, mtp_weights: list[float] | None = None,
                 beam_width: int = 128, top_n: int = 100, epochs: int = 4, batch_size: int = 512, lr: float = 1e-3,
                 weight_decay: float = 0.01, warmup_steps: int = 100, max_train_clicks: int | None = None,
                 max_valid_clicks: int = 20_000, tokenizer_epochs: int = 5, tokenizer_batch: int = 1024,
                 tokenizer_lr: float = 3e-3, temperature: float = 0.1, kmeans_iters: int = 20,
                 kmeans_sample: int = 50_000, use_profiles: bool = False):
        if embedding_size % heads:
            raise ValueError(f"embedding_size {embedding_size} must be a multiple of heads {heads}")
        if top_n < 1 or beam_width < 1:
            raise ValueError("beam_width and top_n must be at least 1")
        super().__init__(embedding_size=embedding_size, history=history, layers=layers, heads=heads,
                         codebook_size=codebook_size, id_window_s=id_window_s, dynamic_ids=dynamic_ids,
                         time_aware=time_aware, qk_norm=qk_norm, mtp=mtp,
                         mtp_weights=list(mtp_weights or [1.0, 1.0, 1.0]), beam_width=beam_width, top_n=top_n,
                         epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, max_train_clicks=max_train_clicks,
                         max_valid_clicks=max_valid_clicks, tokenizer_epochs=tokenizer_epochs,
                         tokenizer_batch=tokenizer_batch, tokenizer_lr=tokenizer_lr, temperature=temperature,
                         kmeans_iters=kmeans_iters, kmeans_sample=kmeans_sample, use_profiles=use_profiles)
        self.log: dict = {}

    # --- the tokenizer ---------------------------------------------------------------------------------
    def ids_of(self, view, streamers: np.ndarray, lives: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """The semantic id (n, 3) each streamer's room has at each time: read from its content at the start of
        the time's id window (dynamic), or the streamer's train id (static; its dynamic id if it had none)."""
        streamers, lives, ts = (np.asarray(a, np.int64) for a in (streamers, lives, ts))
        out = np.zeros((streamers.size, LEVELS), np.int64)
        todo = np.ones(streamers.size, bool)
        if not self.params["dynamic_ids"]:
            pos, found = _lookup(self.static_streamers, streamers)
            out[found], todo = self.static_codes[pos[found]], ~found
        if todo.any():
            at = self._id_times(view, lives[todo], ts[todo])
            content = read_content(view, streamers[todo], lives[todo], at, self.params["use_profiles"])
            out[todo] = self.quantiser.encode(author_vectors(self.tokenizer, content, self.device))
        return out

    def _id_times(self, view, lives: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """When the ids of rooms at ts are read (`id_times`); a room the view does not know starts at ts."""
        start = view.rooms(lives)["start_ts"]
        return id_times(ts, np.where(start >= 0, start, ts), self.params["id_window_s"] * 1000)

    def _fit_tokenizer(self, view, log: dict, train: np.ndarray, gen: torch.Generator) -> np.ndarray:
        """Align the towers on train clicks, fit the codebooks and return every logged click's id."""
        p, dev = self.params, self.device
        at = self._id_times(view, log["live_id"], log["ts"])
        content = read_content(view, log["streamer_id"], log["live_id"], at, p["use_profiles"])
        dense = content.dense[train]
        self.tokenizer = TokenizerNet((len(view.vocab("streamer_id")), len(view.vocab("category")),
                                       len(view.vocab("live_type"))), len(view.vocab("user_id")), dense.shape[1],
                                      dense.mean(0), dense.std(0) + 1e-6, p["embedding_size"], p["temperature"]).to(dev)
        t0 = time.perf_counter()
        losses = fit_tokenizer(self.tokenizer, view.encode("user_id", log["user_id"][train]), content.take(train),
                               p["tokenizer_epochs"], p["tokenizer_batch"], p["tokenizer_lr"], gen, dev)
        vectors = author_vectors(self.tokenizer, content, dev)
        sample = np.flatnonzero(train)
        if sample.size > p["kmeans_sample"]:
            sample = np.sort(torch.randperm(sample.size, generator=gen)[: p["kmeans_sample"]].numpy())
            sample = np.flatnonzero(train)[sample]
        self.quantiser = ResidualKMeans(LEVELS, p["codebook_size"], p["kmeans_iters"], int(torch.randint(
            1 << 30, (1,), generator=gen)))
        errors = self.quantiser.fit(vectors[sample])
        codes = self.quantiser.encode(vectors)
        # the static ids: each streamer's mean train author vector, quantised once
        streamers, back = np.unique(log["streamer_id"][train], return_inverse=True)
        sums = np.zeros((streamers.size, vectors.shape[1]))
        np.add.at(sums, back.reshape(-1), vectors[train])
        self.static_streamers = streamers
        self.static_codes = self.quantiser.encode((sums / np.bincount(back.reshape(-1))[:, None]).astype(np.float32))
        if not p["dynamic_ids"]:   # every click on a streamer with train clicks takes its static id
            pos, found = _lookup(streamers, log["streamer_id"])
            codes[found] = self.static_codes[pos[found]]
        ids = codes[:, 0] * p["codebook_size"] ** 2 + codes[:, 1] * p["codebook_size"] + codes[:, 2]
        self.log["tokenizer"] = {"align_loss": losses, "kmeans_mse": errors, "seconds": time.perf_counter() - t0,
                                 "clicks": int(train.sum()), "ids_in_train": int(np.unique(ids[train]).size),
                                 "streamers_in_train": int(streamers.size),
                                 "ids_per_streamer": float(_ids_per_streamer(log["streamer_id"][train], ids[train]))}
        return codes

    # --- training --------------------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        self.device = ctx.device
        self.supervised(ctx.features, torch.Generator().manual_seed(ctx.seed))

    def supervised(self, view, gen: torch.Generator) -> tuple[dict, ClickExamples]:
        """The tokenizer and the decoder's next-click training; returns the click log and its examples (what
        alignment samples its requests from)."""
        p = self.params
        log = {k: np.asarray(v) for k, v in view.click_log().items()}
        in_train = log["ts"] < view.periods["valid"][0]
        codes = self._fit_tokenizer(view, log, in_train, gen)
        # what a later request's history needs: each logged click's id, and each streamer's last id
        order = np.argsort(log["sample_id"], kind="stable")
        self.logged_samples, self.logged_codes = log["sample_id"][order], codes[order]
        last = np.lexsort((log["ts"], log["streamer_id"]))
        is_last = np.r_[log["streamer_id"][last][1:] != log["streamer_id"][last][:-1], True]
        self.last_streamers, self.last_codes = log["streamer_id"][last][is_last], codes[last][is_last]

        hist = _history_index(log["user_id"], log["ts"], p["history"])
        rows = {"train": np.flatnonzero(in_train), "valid": np.flatnonzero(~in_train)}
        caps = {"train": p["max_train_clicks"], "valid": p["max_valid_clicks"]}
        for split, cap in caps.items():
            if cap is not None and rows[split].size > cap:
                rows[split] = np.sort(rows[split][torch.randperm(rows[split].size, generator=gen)[:cap].numpy()])
        data = ClickExamples(codes, log["ts"], view.encode("user_id", log["user_id"]), hist)
        self.net = OneLiveDecoder(p["codebook_size"], len(view.vocab("user_id")), p["embedding_size"], p["heads"],
                                  p["layers"], p["history"], p["qk_norm"], p["time_aware"], p["mtp"]).to(self.device)
        opt = torch.optim.AdamW(self.net.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        warmup = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / max(p["warmup_steps"], 1)))
        best, best_state, losses, seconds = np.inf, None, [], []
        for _ in range(p["epochs"]):
            t0 = time.perf_counter()
            self.net.train()
            for batch in torch.randperm(rows["train"].size, generator=gen).split(p["batch_size"]):
                loss = self._loss(data.batch(rows["train"][batch.numpy()], self.device))
                opt.zero_grad()
                loss.backward()
                opt.step()
                warmup.step()
            seconds.append(time.perf_counter() - t0)
            losses.append(self._valid_loss(data, rows["valid"]))
            if losses[-1] >= best:
                break
            best, best_state = losses[-1], {k: v.clone() for k, v in self.net.state_dict().items()}
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.net.eval()
        best_epoch = int(np.argmin(losses)) + 1
        self.log["decoder"] = {"epochs": len(losses), "max_epochs": p["epochs"], "valid_loss": losses,
                               "best_epoch": best_epoch, "early_stopped": best_epoch < len(losses),
                               "train_rows": int(rows["train"].size), "train_rows_available": int(in_train.sum()),
                               "train_unit": "clicks", "seconds_per_epoch": seconds,
                               "train_samples_per_second": rows["train"].size / max(np.mean(seconds), 1e-9)}
        return log, data

    def _loss(self, batch: tuple) -> torch.Tensor:
        """Σ_l w_l · cross-entropy of level l's code (teacher forcing)."""
        *inputs, target = batch
        logits = self.net(*inputs, target)
        return sum(w * torch.nn.functional.cross_entropy(z, target[:, level])
                   for level, (w, z) in enumerate(zip(self.params["mtp_weights"], logits, strict=True)))

    @torch.no_grad()
    def _valid_loss(self, data: ClickExamples, rows: np.ndarray) -> float:
        self.net.eval()
        total = 0.0
        for start in range(0, rows.size, 4096):
            part = rows[start:start + 4096]
            total += float(self._loss(data.batch(part, self.device))) * part.size
        return total / max(rows.size, 1)

    # --- serving ---------------------------------------------------------------------------------------
    def predict(self, test: pd.DataFrame, ctx: Context) -> np.ndarray:
        raise NotImplementedError("OneLive ranks live candidates (topk) only")

    def history(self, view, users: np.ndarray, ts: np.ndarray, candidates: Candidates
                ) -> tuple[np.ndarray, np.ndarray]:
        """Each request's last `history` clicks as ids (n, history, 3; -1 padded) and their time features.

        A click the fit logged keeps the id it had then; a later one is read again at its own id time when
        its room is live for some request at or after that time (the view allows a handed room's past), else
        it takes its streamer's last logged id, else it is left out."""
        length = self.params["history"]
        seq = view.sequences(users, ts, max_len=length, kinds=("click",))
        cols, n = seq.columns, seq.offsets[-1]
        codes = np.full((n, LEVELS), -1, np.int64)
        pos, logged = _lookup(self.logged_samples, cols["sample_id"])
        codes[logged] = self.logged_codes[pos[logged]]
        rest = np.flatnonzero(~logged)
        if rest.size:
            live, latest = _latest_handed(candidates.live_id, np.asarray(ts)[candidates.query_index])
            at, handed = _lookup(live, cols["live_id"][rest])
            rest, at = rest[handed], at[handed]
            when = self._id_times(view, cols["live_id"][rest], cols["ts"][rest])
            again = rest[latest[at] >= when]
            if again.size:
                codes[again] = self.ids_of(view, cols["streamer_id"][again], cols["live_id"][again], cols["ts"][again])
        left = np.flatnonzero(codes[:, 0] < 0)
        pos, known = _lookup(self.last_streamers, cols["streamer_id"][left])
        codes[left[known]] = self.last_codes[pos[known]]
        request = np.repeat(np.asarray(ts, np.int64), seq.lengths)
        times = item_time(cols["ts"], request)
        keep = codes[:, 0] >= 0
        owner = np.repeat(np.arange(len(seq)), seq.lengths)[keep]
        counts = np.bincount(owner, minlength=len(seq))
        # right-aligned: a request's k kept clicks fill its last k slots, oldest first
        first = np.repeat(np.cumsum(counts) - counts, counts)
        slot = np.arange(owner.size) - first + length - np.repeat(counts, counts)
        hist = np.full((len(seq), length, LEVELS), -1, np.int64)
        hist_t = np.zeros((len(seq), length, ITEM_TIME), np.float32)
        hist[owner, slot], hist_t[owner, slot] = codes[keep], times[keep]
        return hist, hist_t

    @torch.no_grad()
    def score_candidates(self, queries: pd.DataFrame, candidates: Candidates, ctx: Context) -> np.ndarray:
        view, p = ctx.features, self.params
        users, ts = queries["user_id"].to_numpy(), queries["ts"].to_numpy()
        qi = candidates.query_index
        codes = self.ids_of(view, candidates.streamer_id, candidates.live_id, ts[qi])
        hist, hist_t = self.history(view, users, ts, candidates)
        user_codes, bos_t = view.encode("user_id", users), bos_time(ts)
        trie = PrefixTrie.build(qi, codes, p["codebook_size"])
        leaf_logp = np.zeros(trie.keys[-1].size)
        named = np.zeros(trie.keys[-1].size, bool)
        per_leaf = np.bincount(trie.leaf, minlength=trie.keys[-1].size)
        for start in range(0, len(queries), QUERY_CHUNK):
            chunk = np.arange(start, min(start + QUERY_CHUNK, len(queries)))
            scorer = self.scorer(chunk, hist, hist_t, user_codes, bos_t)
            leaves, logp = beam_search(trie, chunk, scorer, None)
            leaf_logp[leaves] = logp
            found, _ = beam_search(trie, chunk, scorer, p["beam_width"])
            named[self._top_named(trie, found, per_leaf)] = True
        return leaf_logp[trie.leaf] + NAMED * named[trie.leaf]

    def _top_named(self, trie: PrefixTrie, found: np.ndarray, per_leaf: np.ndarray) -> np.ndarray:
        """The beam's leaves (best first per query) up to the one at which `top_n` live streamers are named."""
        q = trie.query(len(trie.keys) - 1, found)
        before = np.cumsum(per_leaf[found]) - per_leaf[found]
        return found[before - before[np.searchsorted(q, q)] < self.params["top_n"]]

    def scorer(self, chunk: np.ndarray, hist: np.ndarray, hist_t: np.ndarray, user_codes: np.ndarray,
               bos_t: np.ndarray, net: OneLiveDecoder | None = None):
        """level_logprobs for `beam_search` over the consecutive queries of `chunk`: their context encoded once
        (by `net`, the fitted decoder by default)."""
        dev, net = self.device, net or self.net
        ctx = net.context(*(torch.as_tensor(a[chunk], device=dev) for a in (hist, hist_t, user_codes, bos_t)))

        def level_logprobs(level: int, query: np.ndarray, prefix: np.ndarray, parent):
            rows = torch.as_tensor(query - chunk[0], dtype=torch.long, device=dev)   # chunk: consecutive queries
            if level == 0:
                return torch.log_softmax(net.logits(0, ctx.h_bos[rows]), -1).cpu().numpy(), None
            h, state = net.level_hidden(ctx.take(rows), torch.as_tensor(prefix, device=dev), parent)
            return torch.log_softmax(net.logits(level, h), -1).cpu().numpy(), state

        return level_logprobs

    def n_params(self) -> int:
        nets = [n for n in (getattr(self, "tokenizer", None), getattr(self, "net", None)) if n is not None]
        return int(sum(x.numel() for n in nets for x in n.parameters()))

    def fit_log(self) -> dict:
        return self.log


class ClickExamples:
    """Every logged click as a next-item example: its id after the user's clicks before it."""

    def __init__(self, codes: np.ndarray, ts: np.ndarray, users: np.ndarray, hist: np.ndarray):
        self.codes, self.ts, self.users, self.hist = codes, ts, users, hist

    def batch(self, rows: np.ndarray, dev: str) -> tuple[torch.Tensor, ...]:
        """(history ids, history times, user codes, BOS times, target ids) of the rows."""
        idx = self.hist[rows]
        real = idx >= 0
        hist = np.where(real[..., None], self.codes[idx.clip(min=0)], -1)
        times = item_time(self.ts[idx.clip(min=0)], np.repeat(self.ts[rows, None], idx.shape[1], 1)) * real[..., None]
        return tuple(torch.as_tensor(a, device=dev) for a in
                     (hist, times.astype(np.float32), self.users[rows], bos_time(self.ts[rows]), self.codes[rows]))


def _history_index(users: np.ndarray, ts: np.ndarray, length: int) -> np.ndarray:
    """(n, length) row indices of each click's user's previous clicks strictly before it (newest last, -1
    padded left), in a log sorted by (user, ts)."""
    n = users.size
    idx = np.arange(n)[:, None] - np.arange(length, 0, -1)[None, :]
    ok = idx >= 0
    safe = idx.clip(min=0)
    ok &= (users[safe] == users[:, None]) & (ts[safe] < ts[:, None])
    return np.where(ok, idx, -1)


def _lookup(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in sorted `keys` and whether it is there."""
    if keys.size == 0:
        return np.zeros(np.shape(values), np.int64), np.zeros(np.shape(values), bool)
    pos = np.minimum(np.searchsorted(keys, values), keys.size - 1)
    return pos, keys[pos] == values


def _latest_handed(live_ids: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each handed room (sorted) and the latest time it was handed at."""
    order = np.lexsort((ts, live_ids))
    live, t = live_ids[order], ts[order]
    last = np.r_[live[1:] != live[:-1], True]
    return live[last], t[last]


def _ids_per_streamer(streamers: np.ndarray, ids: np.ndarray) -> float:
    """Mean number of distinct ids a streamer had (1.0: static ids)."""
    pairs = np.unique(np.stack([streamers, ids], 1), axis=0)
    return pairs.shape[0] / max(np.unique(streamers).size, 1)
