"""SimParams presets and overrides: every field named, a switch per mechanism, clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from benchmark.errors import BenchmarkError
from benchmark.sim.presets import PRESETS, SWITCHES, SimParams, from_dict, get_params, to_dict


def test_presets_and_sizes():
    assert set(PRESETS) == {"tiny", "small", "dense", "full"}
    assert get_params("dense").n_streamers < get_params("small").n_streamers / 50
    full = get_params("full")
    assert (full.n_users, full.n_streamers) == (23772, 452621)
    assert get_params("tiny").n_users == 300 and get_params("small").n_users == 2000
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.n_users = 1  # type: ignore[misc]


def test_switches_are_boolean_fields_on_by_default():
    fields = {f.name: f for f in dataclasses.fields(SimParams)}
    for s in SWITCHES:
        assert fields[s].type in ("bool", bool) and getattr(get_params("small"), s) is True


def test_overrides_coerced_and_validated():
    p = get_params("tiny", {"highlights": "false", "n_users": 10.0, "price_units": [1, 2, 3] + [4] * 12})
    assert p.highlights is False and p.n_users == 10 and isinstance(p.price_units, tuple)
    assert from_dict(to_dict(p)) == p
    with pytest.raises(BenchmarkError, match="unknown sim parameter"):
        get_params("tiny", {"no_such_knob": 1})
    with pytest.raises(BenchmarkError, match="unknown sim preset"):
        get_params("huge")
    with pytest.raises(BenchmarkError, match="cannot use"):
        get_params("tiny", {"n_users": "many"})
    with pytest.raises(BenchmarkError, match="invalid sim parameters"):
        get_params("tiny", {"category_shares": [0.5, 0.5]})


def test_docs_list_every_parameter_and_switch():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "simulator.md").read_text()
    missing = [f.name for f in dataclasses.fields(SimParams) if f"`{f.name}`" not in text]
    assert not missing, f"docs/simulator.md does not mention {missing}"


def test_dataset_names_switch_mechanisms_off():
    from benchmark.params import parse_dataset

    ds = parse_dataset("sim-small-s0-nohighlights")
    assert (ds.preset, ds.seed, ds.overrides) == ("small", 0, {"highlights": False})
    ds = parse_dataset("sim-dense-s3-nocontentdrift-noweekly_rhythm")
    assert ds.overrides == {"content_drift": False, "weekly_rhythm": False}
    assert parse_dataset("sim-tiny-s7").overrides == {}
    for bad, message in [("sim-small-s0-nosuchthing", "names no simulator switch"),
                         ("sim-small-s0-nohighlights-nohighlights", "appears twice"),
                         ("sim-huge-s0", "neither"), ("sim-small-0", "neither")]:
        with pytest.raises(BenchmarkError, match=message):
            parse_dataset(bad)


def test_a_dataset_name_reaches_the_simulator(tmp_path):
    import json

    from benchmark.pipeline import make_raw

    (tmp_path / "params.yaml").write_text("dataset: sim-tiny-s2-nocontentdrift-nohighlights\n")
    make_raw(tmp_path / "params.yaml", tmp_path / "raw", quiet=True)
    meta = json.loads((tmp_path / "raw" / "oracle" / "latent" / "params.json").read_text())
    assert meta["overrides"] == {"content_drift": False, "highlights": False}
    assert meta["params"]["content_drift"] is False and meta["version"] == "kuailive-sim-2"


def test_simulate_off_takes_the_names_dataset_names_take():
    from benchmark.cli import switches_off

    assert switches_off(["contentdrift", "weekly_rhythm"]) == {"content_drift": False, "weekly_rhythm": False}
    assert switches_off([]) is None
    with pytest.raises(BenchmarkError, match="simulate --off: weekly is no simulator switch"):
        switches_off(["weekly"])
