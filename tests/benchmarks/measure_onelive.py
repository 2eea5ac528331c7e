"""OneLive on topk (docs/onelive.md): its rows beside the sequential baselines, each ablation against it, the
dynamic-minus-static control with content drift on and off, and decoding latency with and without MTP.

Run after `dvc repro` (its topk runs are the references, linked into this script's own runs folder):
    python tests/benchmarks/measure_onelive.py rows --seeds 0 1 2 --ablation-seeds 0 --beside-seeds 0
    python tests/benchmarks/measure_onelive.py drift --seeds 0      # builds sim-<preset>-nocontentdrift first
    python tests/benchmarks/measure_onelive.py latency --requests 300 --layers 3 6
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate

from baselines.onelive.decoder import OneLiveDecoder
from baselines.onelive.model import QUERY_CHUNK, bos_time
from baselines.onelive.trie import PrefixTrie, beam_search
from benchmark.compare import compare_runs, finalize, run_dirs
from benchmark.features.view import FeatureView, RowsClock
from benchmark.interface import Candidates
from benchmark.params import load_params, parse_params, read_params_file
from benchmark.runner import load_split, open_model, public_queries, run_model_stage, run_record, train
from benchmark.sandbox import sandbox
from benchmark.tasks import get_task

ABLATIONS = ("OneLive-notimegate", "OneLive-staticids", "OneLive-noqknorm", "OneLive-nomtp")
BESIDE = ("SASRec", "GRU4Rec")
LINKED = ("RepeatConsumption", "Pop", "BPR", "Popularity", "Oracle", "Oracle-contentblind", "OneLive")
METRICS = ("ndcg@10", "recall@10", "recall@50", "mrr", "ndcg@10_repeat", "ndcg@10_new")


def kuaishou(dataset: str | None = None):
    """params.yaml with the kuaishou model set (OneLive's ablations, SASRec, GRU4Rec), on `dataset`."""
    raw = read_params_file("params.yaml")
    raw["tasks"] = raw["model_sets"]["kuaishou"]
    if dataset:
        raw["dataset"] = dataset
    return parse_params(raw)


def link_board_runs(board: Path, runs: Path, dataset: str, models: tuple[str, ...]) -> None:
    """The board's topk runs of `models`, linked into `runs` (nothing is refitted)."""
    for m in models:
        src, dst = board / dataset / "topk" / m, runs / dataset / "topk" / m
        if src.exists() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve(), target_is_directory=True)


def run(params, model: str, seeds: list[int], data: Path, runs: Path) -> None:
    """Fit and rank one model's seeds (those already run are kept)."""
    todo = [s for s in seeds if not run_dirs(runs, params.dataset.name, "topk", model, [s])]
    for seed in todo:
        t0 = time.perf_counter()
        rec = run_model_stage(params, "topk", model, data, runs, [seed], quiet=True)[0]
        assert rec["status"] == "ok", rec.get("error")
        print(f"{params.dataset.name} {model} seed {seed}: {time.perf_counter() - t0:.0f} s (fit "
              f"{rec['train_seconds']:.0f} s, rank {rec['predict_seconds']:.0f} s)", flush=True)


def metrics(runs: Path, dataset: str, model: str, seeds: list[int]) -> dict[str, list[float]]:
    recs = [json.loads((d / "metrics.json").read_text()) for _, d in run_dirs(runs, dataset, "topk", model, seeds)]
    return {k: [r["metrics"][k] for r in recs] for k in METRICS}


def compare(params, data: Path, runs: Path, models: list[str], reference: str, seeds: list[int]) -> dict:
    out = finalize(compare_runs(runs, params.dataset.name, "topk", models, reference, data, seeds=seeds, quiet=True,
                                **asdict(params.significance)))
    return {c["model"]: c for c in out if c.get("metric") == "ndcg@10" and c["status"] == "ok"}


def _delta(c: dict | None) -> str:
    if c is None:
        return "—"
    return f"{c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], p {c['pvalue']:.3g}"


def cmd_rows(a) -> dict:
    params = kuaishou(a.dataset)
    ds, data, runs = params.dataset.name, Path(a.data_root).resolve(), Path(a.runs_root).resolve()
    link_board_runs(Path(a.board_runs).resolve(), runs, ds, LINKED)
    run(params, "OneLive", a.seeds, data, runs)
    for m in a.beside:   # RecBole's sequential models: SASRec alone takes about 20 minutes a fit at small
        run(params, m, a.beside_seeds, data, runs)
    for m in ABLATIONS:
        run(params, m, a.ablation_seeds, data, runs)
    rows = ["OneLive", *BESIDE, "BPR", "Pop", "RepeatConsumption", "Oracle", "Oracle-contentblind"]
    vs_ref = compare(params, data, runs, [m for m in rows if m != "RepeatConsumption" and m not in BESIDE],
                     "RepeatConsumption", a.seeds)
    vs_ref.update(compare(params, data, runs, list(BESIDE), "RepeatConsumption", a.beside_seeds))
    vs_main = compare(params, data, runs, list(ABLATIONS), "OneLive", a.ablation_seeds)
    table, out = [], {}
    for m in [*rows, *ABLATIONS]:
        seeds = a.ablation_seeds if m in ABLATIONS else a.beside_seeds if m in BESIDE else a.seeds
        got = metrics(runs, ds, m, seeds)
        if not got["ndcg@10"]:
            continue
        out[m] = got
        sd = f" ± {np.std(got['ndcg@10'], ddof=1):.4f}" if len(got["ndcg@10"]) > 1 else ""
        table.append([m, len(got["ndcg@10"]), f"{np.mean(got['ndcg@10']):.4f}{sd}",
                      *(f"{np.mean(got[k]):.4f}" for k in METRICS[1:]),
                      _delta(vs_main.get(m) if m in ABLATIONS else vs_ref.get(m))])
    print(f"\n{ds} topk; Δ NDCG@10 vs RepeatConsumption (ablations: vs OneLive), users and seeds t-test, "
          "unadjusted p")
    print(tabulate(table, headers=["row", "seeds", *METRICS, "Δ NDCG@10 [95%]"], tablefmt="github"))
    return {"dataset": ds, "rows": out, "vs_reference": vs_ref, "vs_onelive": vs_main}


def build(dataset: str, data: Path) -> None:
    """Simulate `dataset` and run every data stage into `data` (once)."""
    from benchmark.pipeline import build_from_raw
    from benchmark.sim import simulate

    if (data / "tasks" / dataset / "topk" / "test.parquet").exists():
        return
    name = parse_params({"dataset": dataset}).dataset
    t0 = time.perf_counter()
    simulate(name.preset, name.seed, data / "raw" / dataset, name.overrides, quiet=True)
    dirs = {k: data / k / dataset for k in ("processed", "split", "features", "tasks")}
    build_from_raw(data / "raw" / dataset, dirs, load_params("params.yaml"), True)
    print(f"built {dataset} in {time.perf_counter() - t0:.0f} s", flush=True)


def cmd_drift(a) -> dict:
    """Dynamic minus static ids, with content drift on (the board's dataset) and off, beside the Oracle's
    content-blind gap on each: the difference-in-differences the control asks for."""
    on = a.dataset or load_params("params.yaml").dataset.name
    off = f"{on}-nocontentdrift"
    out, table = {}, []
    for ds, data_root in ((on, Path(a.data_root)), (off, Path(a.drift_root))):
        data, runs = data_root.resolve(), Path(a.runs_root).resolve()
        build(ds, data)
        params = kuaishou(ds)
        if ds == on:
            link_board_runs(Path(a.board_runs).resolve(), runs, ds, LINKED)
        for m in ("OneLive", "OneLive-staticids"):
            run(params, m, a.seeds, data, runs)
        for m in ("Oracle", "Oracle-contentblind"):
            run(params, m, [params.seeds[0]], data, runs)
        dyn, stat = (metrics(runs, ds, m, a.seeds)["ndcg@10"] for m in ("OneLive", "OneLive-staticids"))
        oracle, blind = (metrics(runs, ds, m, [params.seeds[0]])["ndcg@10"] for m in ("Oracle", "Oracle-contentblind"))
        gap = compare(params, data, runs, ["OneLive"], "OneLive-staticids", a.seeds).get("OneLive")
        out[ds] = {"dynamic": dyn, "static": stat, "oracle": oracle, "contentblind": blind, "dynamic_vs_static": gap}
        table.append([ds, f"{np.mean(dyn):.4f}", f"{np.mean(stat):.4f}", _delta(gap), f"{oracle[0]:.4f}",
                      f"{blind[0]:.4f}", f"{oracle[0] - blind[0]:+.4f}"])
    did = (np.mean(out[on]["dynamic"]) - np.mean(out[on]["static"])) - (np.mean(out[off]["dynamic"]) -
                                                                        np.mean(out[off]["static"]))
    print(f"\nNDCG@10 on topk, seeds {a.seeds}: dynamic vs static ids with content drift on and off")
    print(tabulate(table, headers=["dataset", "OneLive (dynamic)", "static ids", "dynamic − static [95%]", "Oracle",
                                   "Oracle-contentblind", "content-blind gap"], tablefmt="github"))
    print(f"difference-in-differences (drift on minus off) of dynamic − static: {did:+.4f}")
    return {"cells": out, "did": did}


def cmd_latency(a) -> dict:
    """Beam-search decoding per request (context encoded once, 3 levels, width beam_width over the live trie)
    and in chunks of QUERY_CHUNK, for each decoder depth with and without MTP."""
    params = load_params("params.yaml")
    ds, data = params.dataset.name, Path(a.data_root).resolve()
    spec = params.models["OneLive"]
    task = get_task("topk")
    torch.set_num_threads(params.threads)
    out, table = {}, []
    with sandbox() as work:
        base = run_record(ds, "topk", 0, params.threads)
        cls, ctx, store, periods = open_model(ds, spec, 0, data, work, params.threads, True, base)
        ctx = replace(ctx, task="topk", labels=task.labels, kind=task.kind)
        tables = [load_split(data / "tasks" / ds / "topk", s) for s in ("train", "valid", "test")]
        t0 = time.perf_counter()
        model = train(cls, ctx, tables[0], tables[1], params.threads, True, base, "latency")
        print(f"fitted OneLive in {time.perf_counter() - t0:.0f} s", flush=True)
        queries = public_queries(tables[2]).iloc[: a.requests].reset_index(drop=True)
        ts = queries["ts"].to_numpy()
        offsets, streamers, lives = store.live_index.candidates(ts)
        cand = Candidates(offsets, streamers, lives)
        qi = cand.query_index
        clock = RowsClock.of_queries(queries["user_id"].to_numpy(), ts, qi, streamers, lives)
        view = FeatureView(store, periods, clock)
        codes = model.ids_of(view, streamers, lives, ts[qi])
        hist, hist_t = model.history(view, queries["user_id"].to_numpy(), ts, cand)
        users, bos_t = view.encode("user_id", queries["user_id"].to_numpy()), bos_time(ts)
        trie = PrefixTrie.build(qi, codes, model.params["codebook_size"])
        width, p = model.params["beam_width"], model.params
        for layers in a.layers:
            for mtp in (True, False):
                torch.manual_seed(0)
                model.net = OneLiveDecoder(p["codebook_size"], len(view.vocab("user_id")), p["embedding_size"],
                                           p["heads"], layers, p["history"], p["qk_norm"], p["time_aware"], mtp).eval()
                with torch.no_grad():
                    per = []
                    for q in range(len(queries)):
                        t0 = time.perf_counter()
                        beam_search(trie, np.array([q]), model.scorer(np.array([q]), hist, hist_t, users, bos_t), width)
                        per.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    for start in range(0, len(queries), QUERY_CHUNK):
                        chunk = np.arange(start, min(start + QUERY_CHUNK, len(queries)))
                        beam_search(trie, chunk, model.scorer(chunk, hist, hist_t, users, bos_t), width)
                    rps = len(queries) / (time.perf_counter() - t0)
                name = f"{layers} layers, {'MTP' if mtp else 'no MTP'}"
                out[name] = {"p50_ms": 1e3 * float(np.median(per)), "p95_ms": 1e3 * float(np.percentile(per, 95)),
                             "requests_per_s": rps}
                table.append([name, f"{out[name]['p50_ms']:.1f}", f"{out[name]['p95_ms']:.1f}", f"{rps:.1f}"])
                print(table[-1], flush=True)
    live = np.diff(offsets).mean()
    print(f"\nbeam search (width {width}) over the live ids of {len(queries)} test requests ({live:.0f} live "
          f"streamers each on average), {params.threads} threads")
    print(tabulate(table, headers=["decoder", "p50 ms / request", "p95 ms / request",
                                   f"requests/s in chunks of {QUERY_CHUNK}"], tablefmt="github"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("rows", "drift", "latency"))
    p.add_argument("--dataset", default=None, help="params.yaml's dataset by default")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--ablation-seeds", type=int, nargs="+", default=[0])
    p.add_argument("--beside-seeds", type=int, nargs="+", default=[0], help="SASRec's and GRU4Rec's")
    p.add_argument("--beside", nargs="*", default=list(BESIDE), help="the sequential baselines to run beside")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--layers", type=int, nargs="+", default=[3, 6])
    p.add_argument("--data-root", default="data")
    p.add_argument("--drift-root", default="data-drift", help="where the drift-off dataset is built")
    p.add_argument("--board-runs", default="runs", help="the board's runs (references linked from here)")
    p.add_argument("--runs-root", default="runs-onelive")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    a = p.parse_args()
    result = {"rows": cmd_rows, "drift": cmd_drift, "latency": cmd_latency}[a.what](a)
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
