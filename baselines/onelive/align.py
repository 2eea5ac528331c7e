"""OneLive's alignment (Wang et al., arXiv 2602.08612; docs/onelive.md): the supervised generator tuned toward
what a multi-objective reward model values, by GRPO or DPO.

The reward of a generated id at a request is Moment&Cross's multi-task fit (the harness loads it as an input)
fused by Kuaishou's ranking-score formula Π (1 + ŷ_xtr)^w over click, long view and gift, averaged over the
live streamers that share the id. GRPO samples a group of ids per request from the policy, normalises the
rewards within the group into advantages and takes clipped-ratio steps with a KL term to the supervised model;
DPO samples the group from the supervised model and prefers its best id to its worst.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from baselines.onelive.decoder import LEVELS
from baselines.onelive.model import ClickExamples, OneLive
from baselines.onelive.trie import PrefixTrie, beam_search
from benchmark.interface import Context

METHODS = ("grpo", "dpo")


def fused_reward(scores, weights: dict[str, float]) -> np.ndarray:
    """Kuaishou's ranking-score formula Π (1 + ŷ_xtr)^w over the weighted behaviours: PLE's topk score
    (baselines/moment_cross/model.py `fused_score`; a test keeps the two equal). Written here so that OneLive's
    code imports nothing of Moment&Cross's, whose edits do not rerun OneLive's stages."""
    return np.prod([(1.0 + np.asarray(scores[k], np.float64)) ** float(w) for k, w in weights.items()], axis=0)


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """GRPO's advantages (rows are groups): each reward minus its group's mean, over the group's spread."""
    centred = rewards - rewards.mean(1, keepdim=True)
    return centred / (rewards.std(1, keepdim=True, unbiased=False) + eps)


def kl_to_reference(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """KL(π ‖ π_ref) estimated per sample of π (Schulman's k3): e^r − r − 1 with r = log π_ref − log π; never
    negative, zero where the two agree."""
    r = ref_logp - logp
    return torch.exp(r) - r - 1


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, advantages: torch.Tensor,
              clip: float, kl: float) -> torch.Tensor:
    """The negated clipped surrogate min(ρA, clip(ρ, 1 ± ε)A), ρ = π/π_old, plus kl · KL(π ‖ π_ref), per sample."""
    ratio = torch.exp(logp - old_logp)
    surrogate = torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    return (kl * kl_to_reference(logp, ref_logp) - surrogate).mean()


def dpo_loss(logp_w: torch.Tensor, logp_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor,
             beta: float) -> torch.Tensor:
    """−log σ(β[(log π(w) − log π_ref(w)) − (log π(l) − log π_ref(l))]) over preferred w and rejected l."""
    return -F.logsigmoid(beta * ((logp_w - ref_w) - (logp_l - ref_l))).mean()


def id_logp(net: torch.nn.Module, inputs: tuple[torch.Tensor, ...], ids: torch.Tensor) -> torch.Tensor:
    """log π(id | context) of each row's 3-level id: the sum of its levels' teacher-forced log-probabilities."""
    logits = net(*inputs, ids)
    return sum(torch.log_softmax(z, -1).gather(1, ids[:, level:level + 1]).squeeze(1)
               for level, z in enumerate(logits))


class AlignedOneLive(OneLive):
    """OneLive aligned to a multi-objective reward (`alignment`: grpo or dpo) after its supervised fit.

    A shared fit with an input (params.yaml `shared_with_input`, `input: PLE`): the harness hands the reward
    model's fit of the same dataset and seed as ctx.inputs[`reward_model`]. Requests are logged clicks before
    the test period (their user, time and history; not what was clicked), `align_requests` per step for
    `align_steps` steps, each with a group of `group_size` ids sampled from the ids live at its time. Serving is
    OneLive's."""

    shared_fit = True

    def __init__(self, alignment: str = "grpo", reward_model: str = "PLE", fusion: dict[str, float] | None = None,
                 group_size: int = 16, kl: float = 0.02, clip: float = 0.2, align_steps: int = 100,
                 align_requests: int = 32, align_lr: float = 1e-4, inner_steps: int = 2, dpo_beta: float = 0.1,
                 **onelive):
        if alignment not in METHODS:
            raise ValueError(f"alignment must be one of {', '.join(METHODS)}, not {alignment!r}")
        if group_size < 2:
            raise ValueError(f"group_size {group_size}: a group needs at least 2 generations")
        super().__init__(**onelive)
        self.params.update(alignment=alignment, reward_model=reward_model,
                           fusion=dict(fusion or {"click": 1.0, "long_view": 1.0, "gift": 1.0}), group_size=group_size,
                           kl=kl, clip=clip, align_steps=align_steps, align_requests=align_requests,
                           align_lr=align_lr, inner_steps=inner_steps, dpo_beta=dpo_beta)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, ctx: Context) -> None:
        name = self.params["reward_model"]
        if name not in ctx.inputs:
            raise ValueError(f"the reward model {name!r} was not handed over: list this model under "
                             f"shared_with_input with input: {name} in params.yaml (docs/onelive.md)")
        self.device = ctx.device
        gen = torch.Generator().manual_seed(ctx.seed)
        log, data = self.supervised(ctx.features, gen)
        self.align(ctx, ctx.inputs[name], log, data, gen)

    def align(self, ctx: Context, reward_model, log: dict, data: ClickExamples, gen: torch.Generator) -> None:
        """`align_steps` GRPO or DPO steps from the supervised decoder, against a frozen copy of it."""
        p, dev, view = self.params, self.device, ctx.features
        ref = copy.deepcopy(self.net).eval().requires_grad_(False)
        opt = torch.optim.AdamW(self.net.parameters(), lr=p["align_lr"], weight_decay=p["weight_decay"])
        reward_ctx = replace(ctx, task="shared", labels=tuple(p["fusion"]), kind="shared")
        grpo, g = p["alignment"] == "grpo", p["group_size"]
        steps: dict[str, list[float]] = {"reward": [], "loss": [], "kl": [], "seconds": [], "pairs": []}
        started = time.perf_counter()
        for _ in range(p["align_steps"]):
            t0 = time.perf_counter()
            rows = np.sort(torch.randint(data.ts.size, (p["align_requests"],), generator=gen).numpy())
            *inputs, _ = data.batch(rows, dev)
            ids, reward = self._groups(view, self.net if grpo else ref, inputs, log["user_id"][rows], data.ts[rows],
                                       reward_model, reward_ctx, gen)
            step = self._grpo_step if grpo else self._dpo_step
            loss, extra = step(opt, ref, inputs, ids, reward)
            for key, value in (("loss", loss), ("reward", float(reward.mean())), *extra.items()):
                steps[key].append(value)
            steps["seconds"].append(time.perf_counter() - t0)
        tenth = max(len(steps["reward"]) // 10, 1)
        self.log["alignment"] = {
            "method": p["alignment"], "steps": len(steps["seconds"]), "requests_per_step": p["align_requests"],
            "group_size": g, "seconds": time.perf_counter() - started,
            "seconds_per_step": float(np.mean(steps["seconds"])) if steps["seconds"] else None,
            "sampled_reward_first_tenth": float(np.mean(steps["reward"][:tenth])) if steps["reward"] else None,
            "sampled_reward_last_tenth": float(np.mean(steps["reward"][-tenth:])) if steps["reward"] else None,
            "loss": steps["loss"], "kl_last": steps["kl"][-1] if steps["kl"] else None,
            "pairs": int(np.sum(steps["pairs"])) if steps["pairs"] else None}

    def _grpo_step(self, opt: torch.optim.Optimizer, ref: torch.nn.Module, inputs: list[torch.Tensor],
                   ids: np.ndarray, reward: np.ndarray) -> tuple[float, dict[str, float]]:
        """`inner_steps` clipped-ratio steps on one batch of groups sampled from the current policy."""
        p, g = self.params, self.params["group_size"]
        big = tuple(x.repeat_interleave(g, 0) for x in inputs)
        flat = torch.as_tensor(ids.reshape(-1, LEVELS), device=self.device)
        adv = group_advantages(torch.as_tensor(reward, dtype=torch.float32)).reshape(-1).to(self.device)
        with torch.no_grad():
            old, ref_logp = id_logp(self.net, big, flat), id_logp(ref, big, flat)
        loss = self._steps(opt, lambda: grpo_loss(id_logp(self.net, big, flat), old, ref_logp, adv, p["clip"], p["kl"]))
        with torch.no_grad():
            kl = float(kl_to_reference(id_logp(self.net, big, flat), ref_logp).mean())
        return loss, {"kl": kl}

    def _dpo_step(self, opt: torch.optim.Optimizer, ref: torch.nn.Module, inputs: list[torch.Tensor],
                  ids: np.ndarray, reward: np.ndarray) -> tuple[float, dict[str, float]]:
        """`inner_steps` DPO steps on each group's best id preferred to its worst (groups whose rewards differ)."""
        keep = np.flatnonzero(reward.max(1) > reward.min(1))
        if keep.size == 0:
            return float("nan"), {"pairs": 0}
        win, lose = (torch.as_tensor(ids[keep, pick(reward[keep], 1)], device=self.device)
                     for pick in (np.argmax, np.argmin))
        sub = tuple(x[torch.as_tensor(keep, device=self.device)] for x in inputs)
        with torch.no_grad():
            ref_w, ref_l = id_logp(ref, sub, win), id_logp(ref, sub, lose)
        loss = self._steps(opt, lambda: dpo_loss(id_logp(self.net, sub, win), id_logp(self.net, sub, lose), ref_w,
                                                 ref_l, self.params["dpo_beta"]))
        return loss, {"pairs": keep.size}

    def _steps(self, opt: torch.optim.Optimizer, loss_fn) -> float:
        """`inner_steps` optimiser steps on loss_fn(); the last loss."""
        self.net.train()
        for _ in range(self.params["inner_steps"]):
            loss = loss_fn()
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.net.eval()
        return float(loss.detach())

    @torch.no_grad()
    def _groups(self, view, net: torch.nn.Module, inputs: list[torch.Tensor], users: np.ndarray, ts: np.ndarray,
                reward_model, reward_ctx: Context, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`group_size` ids per request (b, g, 3), sampled from `net`'s likelihoods of the ids live at its time
        (the trie's leaves, renormalised), and their rewards (b, g): the fused score of each id's live streamers."""
        p = self.params
        size, b = p["codebook_size"], ts.size
        offsets, streamer, live = view.candidates(ts)
        qi = np.repeat(np.arange(b), np.diff(offsets))
        trie = PrefixTrie.build(qi, self.ids_of(view, streamer, live, ts[qi]), size)
        chunk = np.arange(b)
        arrays = [x.cpu().numpy() for x in inputs]
        leaves, logp = beam_search(trie, chunk, self.scorer(chunk, *arrays, net=net), None)
        q = trie.query(LEVELS - 1, leaves)   # each request's leaves are one run
        counts = np.bincount(q, minlength=b)
        first = np.cumsum(counts) - counts
        table = torch.full((b, int(counts.max())), -np.inf, dtype=torch.float64)
        table[q, np.arange(q.size) - first[q]] = torch.as_tensor(logp, dtype=torch.float64)
        pick = torch.multinomial(torch.softmax(table, 1), p["group_size"], replacement=True, generator=gen).numpy()
        sampled = leaves[first[:, None] + pick]
        keys = trie.keys[-1][sampled]
        ids = np.stack([keys // size ** (LEVELS - 1 - level) % size for level in range(LEVELS)], -1)
        hit = np.flatnonzero(np.isin(trie.leaf, sampled))
        rows = pd.DataFrame({"sample_id": -1 - hit, "user_id": users[qi[hit]], "streamer_id": streamer[hit],
                             "live_id": live[hit], "ts": ts[qi[hit]]})
        fusion = p["fusion"]
        value = fused_reward(reward_model.predict(rows, reward_ctx), fusion)
        n = trie.keys[-1].size
        mean = np.bincount(trie.leaf[hit], value, n) / np.maximum(np.bincount(trie.leaf[hit], minlength=n), 1)
        return ids, mean[sampled]
