"""The compiled-model cache: a warm load is the same model, and a changed input is not served."""

import shutil

import numpy as np
import pytest

import sim
from sim.engine import cache, vensim

from conftest import MODELS


@pytest.fixture
def folder(tmp_path, monkeypatch):
    where = tmp_path / "cache"
    monkeypatch.setenv("BRAINSIM_CACHE", str(where))
    return where


def _values(model):
    ds = sim.simulate(model, {})
    return np.concatenate([ds[v].values.ravel() for v in sorted(ds.data_vars)])


def _no_reading(monkeypatch):
    def refuse(path):
        raise AssertionError(f"{path} was read and compiled again")

    monkeypatch.setattr(vensim, "read_mdl", refuse)


def test_a_warm_load_is_the_same_model_without_compiling(folder, tmp_path, monkeypatch):
    mdl = shutil.copy(MODELS / "delay_family.mdl", tmp_path / "m.mdl")
    cold = sim.load_model(mdl)
    assert len(list(folder.glob("*.model"))) == 1
    _no_reading(monkeypatch)
    warm = sim.load_model(mdl)
    assert warm.source == cold.source
    assert warm.spec == cold.spec
    assert np.array_equal(_values(warm), _values(cold))


def test_a_changed_model_file_is_compiled_again(folder, tmp_path):
    mdl = tmp_path / "m.mdl"
    text = (MODELS / "exponential_decay.mdl").read_text(encoding="utf-8")
    mdl.write_text(text, encoding="utf-8")
    first = sim.load_model(mdl)
    mdl.write_text(text + "\n", encoding="utf-8")  # one byte more: a new key
    second = sim.load_model(mdl)
    assert second.spec.sha256 != first.spec.sha256
    assert len(list(folder.glob("*.model"))) == 2


def test_a_changed_data_file_is_not_served_from_the_cache(folder, tmp_path, monkeypatch):
    for name in ("external_data.mdl", "external_data.csv", "external_data.xlsx"):
        shutil.copy(MODELS / name, tmp_path / name)
    first = sim.load_model(tmp_path / "external_data.mdl")
    assert first.spec.files, "the model reads data files"
    data = tmp_path / "external_data.csv"
    data.write_text(data.read_text(encoding="utf-8").replace("1", "2"), encoding="utf-8")
    second = sim.load_model(tmp_path / "external_data.mdl")
    assert second.spec.sha256 != first.spec.sha256


def test_a_damaged_or_foreign_entry_is_passed_over(folder, tmp_path):
    mdl = shutil.copy(MODELS / "logistic_growth.mdl", tmp_path / "m.mdl")
    cold = sim.load_model(mdl)
    (entry,) = folder.glob("*.model")
    entry.write_bytes(entry.read_bytes()[:100])
    again = sim.load_model(mdl)
    assert np.array_equal(_values(again), _values(cold))


def test_caching_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINSIM_CACHE", "off")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    sim.load_model(shutil.copy(MODELS / "logistic_growth.mdl", tmp_path / "m.mdl"))
    assert not (tmp_path / "home").exists()
    assert cache.folder() is None


def test_old_entries_are_pruned(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_KEEP", 3)
    text = (MODELS / "exponential_decay.mdl").read_text(encoding="utf-8")
    for i in range(5):
        mdl = tmp_path / f"m{i}.mdl"
        mdl.write_text(text, encoding="utf-8")
        sim.load_model(mdl)
    assert len(list(folder.glob("*.model"))) == 3
