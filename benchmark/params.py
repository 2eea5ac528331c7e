"""params.yaml parsed once into a typed, frozen `Params`: every default lives here and nowhere else.

Stages parse the file at their boundary (`load_params`, or `as_params` for a mapping a test built) and
hand plain values on: a task reads `params.features.long_view_seconds`, a run its model's `ModelSpec`.
A key that is missing takes the default below; a key of the wrong shape is one clear error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from benchmark.errors import BenchmarkError

_SIM_NAME = re.compile(r"^sim-([a-z]+)-s(\d+)((?:-no[a-z_]+)*)$")
DEFAULT_DATASET = "sim-small-s0"  # the embedded default: KuaiLive-Sim's small preset
PROTOCOLS = ("static", "streaming")
STREAMS = ("moment", "fast_slow")  # the label streams a streaming model is replayed under (docs/streaming.md)
DEVICES = ("auto", "cpu", "cuda")  # auto: cuda when the model uses torch and a GPU is there, else cpu
SHARED_BLOCKS = ("shared", "shared_with_input")  # models fitted once for several tasks (docs/shared-fits.md)


@dataclass(frozen=True)
class DatasetName:
    """A parsed dataset name: the real release, or a KuaiLive-Sim preset and seed."""

    name: str
    source: str  # "kuailive" or "sim"
    preset: str | None = None
    seed: int | None = None
    switched_off: tuple[str, ...] = ()  # simulator switches the name turns off (`-no<switch>`), in its order

    @property
    def overrides(self) -> dict[str, bool]:
        """The simulator overrides the name stands for ({switch: False} per `-no<switch>`)."""
        return {k: False for k in self.switched_off}


def parse_dataset(name: str) -> DatasetName:
    """'kuailive' or 'sim-<preset>-s<seed>[-no<switch>]...' -> DatasetName; anything else is a clear error.

    A switch is written without its underscores (`-nocontentdrift` turns `content_drift` off); each may
    appear once.
    """
    from benchmark.sim.presets import PRESETS, SWITCHES

    if name == "kuailive":
        return DatasetName(name, "kuailive")
    m = _SIM_NAME.match(name)
    if not m or m.group(1) not in PRESETS:
        raise BenchmarkError(f"params.yaml: dataset '{name}' is neither 'kuailive' nor "
                             f"'sim-<{'|'.join(PRESETS)}>-s<seed>[-no<switch>]...'")
    compact = {k.replace("_", ""): k for k in SWITCHES}
    off = []
    for word in m.group(3).split("-no")[1:]:
        switch = compact.get(word.replace("_", ""))
        if switch is None:
            raise BenchmarkError(f"params.yaml: dataset '{name}': '-no{word}' names no simulator switch "
                                 f"(one of: {', '.join(sorted(compact))})")
        if switch in off:
            raise BenchmarkError(f"params.yaml: dataset '{name}': '-no{word}' appears twice")
        off.append(switch)
    return DatasetName(name, "sim", m.group(1), int(m.group(2)), tuple(off))


@dataclass(frozen=True)
class RealData:
    """Where the real release comes from (`data.kuailive`)."""

    url: str = "https://zenodo.org/record/16565801/files/KuaiLive.zip"
    md5: str | None = None
    size: int | None = None
    local_path: str | None = None


@dataclass(frozen=True)
class SplitParams:
    """The one global temporal split: inclusive Asia/Shanghai day ranges (`split`)."""

    timezone: str = "Asia/Shanghai"
    train: tuple[str, str] = ("2025-05-05", "2025-05-20")
    valid: tuple[str, str] = ("2025-05-21", "2025-05-22")
    test: tuple[str, str] = ("2025-05-23", "2025-05-25")


@dataclass(frozen=True)
class FeatureParams:
    """What the feature store and the labels are built with (`features`)."""

    long_view_seconds: int = 60                  # long_view = watch >= this many seconds
    moment_windows_s: tuple[int, ...] = (30, 300)  # trailing room-context windows (plus "since the room started")


@dataclass(frozen=True)
class QueryParams:
    """How topk queries are drawn and its sampled view (`queries`)."""

    max_queries: int = 10_000
    query_seed: int = 0
    sampled_negatives: int = 10_000


@dataclass(frozen=True)
class SignificanceParams:
    """Resample counts, seed and level of the significance tests (`significance`)."""

    n_resamples: int = 10_000
    n_cluster_resamples: int = 1_000
    n_bootstrap_recompute: int = 200
    seed: int = 0
    alpha: float = 0.05


@dataclass(frozen=True)
class LeaderboardParams:
    """Rows shown but never ranked, and descriptions that override a class docstring (`leaderboard`)."""

    unranked: tuple[str, ...] = ()
    about: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    oracle: str = "Oracle"


@dataclass(frozen=True)
class ModelSpec:
    """One model: its class (`module:Class` or an entry-point name), its code, its params block and, for
    `protocol: streaming`, the streams its fit is also replayed under (each its own row, `<name>@<stream>`)."""

    name: str
    cls: str
    code: str | None = None   # the file or folder its class lives in: what its run stages depend on
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    streams: tuple[str, ...] = ()  # empty: static only
    device: str = "auto"  # auto | cpu | cuda
    seeds: tuple[int, ...] | None = None  # `models.<name>.seeds`: a subset of the board's (ablations); None: all

    @property
    def rows(self) -> tuple[str, ...]:
        """The board rows one fit of this model gives: the static row, then one per stream."""
        return (self.name, *(f"{self.name}@{s}" for s in self.streams))


def split_row(row: str) -> tuple[str, str | None]:
    """A row name -> (model, stream or None): 'DeepFM@moment' -> ('DeepFM', 'moment')."""
    model, _, stream = row.partition("@")
    return model, stream or None


@dataclass(frozen=True)
class SharedFit:
    """A model fitted once per (dataset, seed) whose predictions feed several tasks (`shared.<model>`), maybe
    loading another shared model's fit of the same seed (`shared_with_input.<model>.input`)."""

    model: str
    tasks: tuple[str, ...]
    input: str | None = None
    streams: tuple[str, ...] = ()  # `shared.<model>.stream`: the streams its one fit is also replayed under

    @property
    def rows(self) -> tuple[str, ...]:
        """The board rows this fit gives on each of its tasks: the static row, then one per stream."""
        return (self.model, *(f"{self.model}@{s}" for s in self.streams))


@dataclass(frozen=True)
class TaskPlan:
    """A task's models, the board rows they give (streaming models add `<model>@<stream>` rows, shared fits
    listing the task add theirs) and the reference each row is tested against (`tasks.<task>`)."""

    models: tuple[str, ...]
    reference: str
    rows: tuple[str, ...]
    shared: tuple[str, ...] = ()  # the rows that come from a shared fit (stage fit-shared)


@dataclass(frozen=True)
class Params:
    """The whole of params.yaml, typed; built by `parse_params`."""

    dataset: DatasetName
    kuailive: RealData = RealData()
    split: SplitParams = SplitParams()
    features: FeatureParams = FeatureParams()
    queries: QueryParams = QueryParams()
    seeds: tuple[int, ...] = (0,)
    threads: int = 1
    models: Mapping[str, ModelSpec] = field(default_factory=lambda: MappingProxyType({}))
    tasks: Mapping[str, TaskPlan] = field(default_factory=lambda: MappingProxyType({}))
    shared: Mapping[str, SharedFit] = field(default_factory=lambda: MappingProxyType({}))
    significance: SignificanceParams = SignificanceParams()
    leaderboard: LeaderboardParams = LeaderboardParams()

    @property
    def few_seed_rows(self) -> tuple[str, ...]:
        """The rows of models given fewer seeds than the board's (`models.<name>.seeds`, ablations), each listed
        model's static and streaming rows (a shared fit's from its shared block)."""
        few = {m.name for m in self.models.values() if m.seeds is not None and len(m.seeds) < len(self.seeds)}
        rows = [r for plan in self.tasks.values() for r in plan.rows]
        return tuple(dict.fromkeys(r for r in rows if split_row(r)[0] in few))

    @property
    def unranked_rows(self) -> tuple[str, ...]:
        """Rows params keep off the ranking: `leaderboard.unranked`, and the few-seed rows, whose interval
        cannot count their own variance between seeds (so their marks would claim more than was measured)."""
        return tuple(dict.fromkeys([*self.leaderboard.unranked, *self.few_seed_rows]))


def _block(raw: Mapping, key: str) -> Mapping:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BenchmarkError(f"params.yaml: '{key}' must be a mapping, got {type(value).__name__}")
    return value


def _typed(cls: type, raw: Mapping, where: str) -> Any:
    """A flat dataclass from a mapping: known keys only, each cast to its default's type."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise BenchmarkError(f"params.yaml: {where} has unknown key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(known)})")
    defaults = cls()
    values = {}
    for key, value in raw.items():
        default = getattr(defaults, key)
        try:
            if value is None:
                values[key] = None
            elif isinstance(default, tuple):
                values[key] = tuple((type(default[0]) if default else str)(v) for v in value)
            elif isinstance(default, Mapping):
                values[key] = MappingProxyType({str(k): str(v) for k, v in dict(value).items()})
            elif default is None:
                values[key] = value
            else:
                values[key] = type(default)(value)
        except (TypeError, ValueError):
            raise BenchmarkError(f"params.yaml: {where}.{key} = {value!r} is not a valid "
                                 f"{type(default).__name__}") from None
    return cls(**values)


def parse_models(raw: Mapping) -> dict[str, ModelSpec]:
    """Only the `models` block, parsed (cheap: no task registry import)."""
    board = _board_seeds(raw)
    out = {}
    for name, block in _block(raw, "models").items():
        if not isinstance(block, Mapping) or "class" not in block:
            raise BenchmarkError(f"params.yaml: models.{name} needs a 'class: module:Class' entry")
        known = ("class", "code", "params", "protocol", "stream", "device", "seeds")
        extra = sorted(set(block) - set(known))
        if extra:
            raise BenchmarkError(f"params.yaml: models.{name} has unknown key(s) {', '.join(extra)} "
                                 f"(known: {', '.join(known)})")
        if "@" in str(name):
            raise BenchmarkError(f"params.yaml: models.{name}: '@' is reserved for streaming rows (<model>@<stream>)")
        params = block.get("params") or {}
        if not isinstance(params, Mapping):
            raise BenchmarkError(f"params.yaml: models.{name}.params must be a mapping")
        device = block.get("device", "auto")
        if device not in DEVICES:
            raise BenchmarkError(f"params.yaml: models.{name}.device = {device!r} is not one of {', '.join(DEVICES)}")
        seeds = _model_seeds(f"params.yaml: models.{name}.seeds", block["seeds"], board) if "seeds" in block else None
        out[str(name)] = ModelSpec(str(name), str(block["class"]), block.get("code"), MappingProxyType(dict(params)),
                                   _streams(name, block), device, seeds)
    return out


def parse_shared(raw: Mapping, models: Mapping[str, ModelSpec]) -> dict[str, SharedFit]:
    """The `shared` and `shared_with_input` blocks: model -> {tasks: [...]} (and input: <shared model>)."""
    from benchmark.tasks import get_task  # here: benchmark.tasks imports this module

    out: dict[str, SharedFit] = {}
    for block_name in SHARED_BLOCKS:
        for name, block in _block(raw, block_name).items():
            where = f"params.yaml: {block_name}.{name}"
            need = {"tasks", "input"} if block_name == "shared_with_input" else {"tasks"}
            if not isinstance(block, Mapping) or not need <= set(block) <= need | {"stream"}:
                raise BenchmarkError(f"{where} must be {{{', '.join(sorted(need))}}}, with an optional stream "
                                     "(docs/shared-fits.md)")
            if name in out:
                raise BenchmarkError(f"{where}: {name} is under both shared and shared_with_input")
            if name not in models:
                raise BenchmarkError(f"{where}: no model '{name}' under models")
            if models[name].streams:
                raise BenchmarkError(f"{where}: a shared fit's streams are chosen by its shared block, so each model "
                                     f"set picks them: drop protocol/stream from models.{name} and write "
                                     f"shared.{name}.stream (docs/shared-fits.md)")
            streams = _stream_list(f"{where}.stream", block["stream"]) if "stream" in block else ()
            tasks = block["tasks"]
            if not isinstance(tasks, list) or not tasks:
                raise BenchmarkError(f"{where}.tasks must be a non-empty list of tasks")
            for task in tasks:
                try:
                    get_task(str(task))
                except BenchmarkError as e:
                    raise BenchmarkError(f"{where}.tasks: {e}") from None
            out[str(name)] = SharedFit(str(name), tuple(dict.fromkeys(str(t) for t in tasks)),
                                       None if block_name == "shared" else str(block["input"]), streams)
    for fit in out.values():
        if fit.input is not None and (fit.input not in out or fit.input == fit.model):
            raise BenchmarkError(f"params.yaml: shared_with_input.{fit.model}.input = {fit.input!r} must name "
                                 "another model under shared or shared_with_input")
        chain, at = [fit.model], fit.input
        while at is not None:
            if at in chain:
                raise BenchmarkError(f"params.yaml: shared_with_input inputs run in a circle: "
                                     f"{' -> '.join([*chain, at])}")
            chain.append(at)
            at = out[at].input
    return out


def _board_seeds(raw: Mapping) -> tuple[int, ...]:
    """params.yaml's `seeds`: a non-empty list of integers (the board's)."""
    seeds = raw.get("seeds", Params.seeds)
    if (not isinstance(seeds, (list, tuple)) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise BenchmarkError(f"params.yaml: seeds must be a non-empty list of integers, got {seeds!r}")
    return tuple(seeds)


def _model_seeds(where: str, value: Any, board: tuple[int, ...]) -> tuple[int, ...]:
    """`models.<name>.seeds`: a non-empty subset of the board's seeds (a row never holds seeds the reference
    lacks: comparisons pair its seeds with the reference's)."""
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in value)):
        raise BenchmarkError(f"{where} must be a non-empty list of integer seeds, got {value!r}")
    extra = [s for s in value if s not in board]
    if extra:
        raise BenchmarkError(f"{where} = {value}: seed {extra[0]} is not one of the board's seeds "
                             f"({', '.join(map(str, board))}); a model runs a subset of them")
    return tuple(dict.fromkeys(value))


def _streams(name: str, block: Mapping) -> tuple[str, ...]:
    """A model block's `protocol` and `stream` -> the streams it is replayed under (none when static)."""
    protocol = block.get("protocol", "static")
    if protocol not in PROTOCOLS:
        raise BenchmarkError(f"params.yaml: models.{name}.protocol = {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    stream = block.get("stream")
    if protocol == "static":
        if stream is not None:
            raise BenchmarkError(f"params.yaml: models.{name} has a stream but no 'protocol: streaming'")
        return ()
    return _stream_list(f"params.yaml: models.{name}.stream", stream, "protocol streaming needs")


def _stream_list(where: str, stream: Any, what: str = "must be") -> tuple[str, ...]:
    """A `stream` value (one stream or a list) -> its streams, or one error naming the known ones."""
    streams = [stream] if isinstance(stream, str) else list(stream) if isinstance(stream, list) else []
    bad = [s for s in streams if s not in STREAMS]
    if not streams or bad:
        raise BenchmarkError(f"{where} = {stream!r}: {what} a stream or a list of streams from {', '.join(STREAMS)}")
    return tuple(dict.fromkeys(streams))


def find_model(models: Mapping[str, ModelSpec], name: str) -> ModelSpec:
    """The model registered under name, or one error listing the known ones."""
    if name not in models:
        raise BenchmarkError(f"params.yaml: no model '{name}' under models (known: {', '.join(sorted(models))})")
    return models[name]


def _tasks(raw: Mapping, models: Mapping[str, ModelSpec], shared: Mapping[str, SharedFit]) -> dict[str, TaskPlan]:
    from benchmark.tasks import TASKS, get_task  # here: benchmark.tasks imports this module

    block = raw.get("tasks")
    if block is None:
        return {}
    if not isinstance(block, Mapping) or not block:
        raise BenchmarkError("params.yaml: 'tasks' must map each task to {models: [...], reference: <model>}")
    out = {}
    for task, spec in block.items():
        get_task(task)
        if not (isinstance(spec, Mapping) and spec.get("reference") and isinstance(spec.get("models"), list)):
            raise BenchmarkError(f"params.yaml: tasks.{task} needs 'models: [...]' and 'reference: <model>'")
        listed = tuple(str(m) for m in spec["models"])
        named_rows = [m for m in (*listed, str(spec["reference"])) if "@" in m]
        if named_rows:
            raise BenchmarkError(f"params.yaml: tasks.{task} names the row '{named_rows[0]}': list the model; its "
                                 "streaming rows follow from its protocol and stream")
        doubled = [m for m in listed if m in shared]
        if doubled:
            raise BenchmarkError(f"params.yaml: tasks.{task} lists '{doubled[0]}', a shared fit: its tasks are "
                                 "listed under shared (docs/shared-fits.md)")
        rows = tuple(r for m in dict.fromkeys(listed) for r in (models[m].rows if m in models else (m,)))
        from_shared = tuple(r for fit in shared.values() if task in fit.tasks for r in fit.rows)
        out[task] = TaskPlan(listed, str(spec["reference"]), rows + from_shared, from_shared)
    boardless = [(m, t) for m, fit in shared.items() for t in fit.tasks if t not in out]
    if boardless:
        m, t = boardless[0]
        raise BenchmarkError(f"params.yaml: shared.{m}.tasks lists {t}, which has no board under tasks "
                             "(add the task, or drop it from the shared fit)")
    return {t: out[t] for t in TASKS if t in out}


def parse_params(raw: Mapping) -> Params:
    """params.yaml's mapping -> Params, with the defaults above for every missing key."""
    if not isinstance(raw, Mapping):
        raise BenchmarkError("params.yaml: the file must hold a mapping of blocks")
    seeds = _board_seeds(raw)
    models = parse_models(raw)
    shared = parse_shared(raw, models)
    return Params(
        dataset=parse_dataset(str(raw.get("dataset", DEFAULT_DATASET))),
        kuailive=_typed(RealData, _block(_block(raw, "data"), "kuailive"), "data.kuailive"),
        split=_typed(SplitParams, _block(raw, "split"), "split"),
        features=_typed(FeatureParams, _block(raw, "features"), "features"),
        queries=_typed(QueryParams, _block(raw, "queries"), "queries"),
        seeds=seeds,
        threads=int(raw.get("threads", Params.threads)),
        models=MappingProxyType(models),
        tasks=MappingProxyType(_tasks(raw, models, shared)),
        shared=MappingProxyType(shared),
        significance=_typed(SignificanceParams, _block(raw, "significance"), "significance"),
        leaderboard=_typed(LeaderboardParams, _block(raw, "leaderboard"), "leaderboard"),
    )


def read_params_file(path: Path | str = "params.yaml") -> dict[str, Any]:
    """The params file as the mapping it holds (for tools that edit and rewrite it)."""
    path = Path(path)
    if not path.exists():
        raise BenchmarkError(f"{path}: params file not found (run from the repository root or pass --params)")
    with open(path) as f:
        return yaml.safe_load(f) or {}


def load_params(path: Path | str = "params.yaml") -> Params:
    """The params file, parsed."""
    return parse_params(read_params_file(path))


def as_params(params: Params | Mapping) -> Params:
    """A Params as it is, a mapping parsed (a test's edited copy of the file)."""
    return params if isinstance(params, Params) else parse_params(params)
