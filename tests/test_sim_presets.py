"""SimParams presets and overrides: every field named, a switch per mechanism, clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from benchmark.errors import BenchmarkError
from benchmark.sim.presets import PRESETS, SWITCHES, SimParams, from_dict, get_params, to_dict


def test_presets_and_sizes():
    assert set(PRESETS) == {"tiny", "small", "full"}
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
