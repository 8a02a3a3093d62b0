"""The run kernel: identity, stage records, JSON, versions, RNG state round trip."""

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from archscout._rundir import (check_identity, config_diff, jsonable, read_done, rng_state, set_rng_state, versions,
                               write_json)
from archscout.exceptions import ArchscoutError


def test_identity_written_once_and_another_config_refused(tmp_path):
    check_identity(tmp_path, {"a": 1, "b": {"c": 2}})
    check_identity(tmp_path, {"a": 1, "b": {"c": 2}})  # the same config: resumes
    with pytest.raises(ArchscoutError, match="differs in b.c"):
        check_identity(tmp_path, {"a": 1, "b": {"c": 3}})
    assert config_diff({"a": 1}, {"a": 1, "d": 0}) == ["d"]


def test_json_records_are_plain_and_read_back(tmp_path):
    path = tmp_path / "stage" / "result.json"
    assert read_done(path) is None
    write_json(path, {"x": np.float32(1.5), "n": np.int64(3), "nan": math.nan, "arr": np.arange(2),
                      "p": Path("a/b"), "t": (1, math.inf)})
    assert json.loads(path.read_text()) == {"x": 1.5, "n": 3, "nan": None, "arr": [0, 1], "p": "a/b", "t": [1, None]}
    assert read_done(path)["n"] == 3
    path.write_text("{cut")
    with pytest.raises(ArchscoutError, match="cannot read stage record"):
        read_done(path)
    assert jsonable({1: [np.bool_(True)]}) == {"1": [True]}


def test_rng_state_round_trip():
    import torch

    state = rng_state()
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == a


def test_versions_name_python_and_archscout():
    v = versions()
    assert {"python", "archscout", "numpy"} <= set(v)


@pytest.mark.parametrize("name", ["../../x", "/abs", "", "a/b", "..", ".", "-x", "a\\b", "x" * 256, None, 3])
def test_a_run_name_is_one_folder(tmp_path, name):
    from archscout._rundir import check_run_name, run_path

    with pytest.raises(ArchscoutError) as info:
        run_path(tmp_path, name)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"--name {name!r}"[:20]) and "is not a run name" in msg
    assert check_run_name("nb201-11472_s0.v2") == "nb201-11472_s0.v2"
    assert run_path(tmp_path, "a" * 255) == tmp_path / ("a" * 255)


def test_a_run_dir_or_run_folder_that_is_a_file_is_one_line(tmp_path):
    from archscout._rundir import run_path

    (tmp_path / "f").write_text("")
    for run_dir in (tmp_path / "f", tmp_path / "f" / "deeper"):
        with pytest.raises(ArchscoutError, match=f"--run-dir {run_dir} is not a folder"):
            run_path(run_dir, "x")
    with pytest.raises(ArchscoutError, match=f"run folder {tmp_path / 'f'} is a file; delete it or use another"):
        run_path(tmp_path, "f")
    assert run_path(tmp_path / "new" / "parent", "x") == tmp_path / "new" / "parent" / "x"  # made on first write


def test_run_files_are_standard_json(tmp_path):
    from archscout._io import atomic_write_json, dumps

    path = atomic_write_json(tmp_path / "r.json", {"lr": math.inf, "target": -math.inf, "w": np.float64("nan"),
                                                   "ok": 1.5})

    def refuse(constant):
        raise AssertionError(f"non-standard JSON: {constant}")

    assert json.loads(path.read_text(), parse_constant=refuse) == {"lr": None, "target": None, "w": None, "ok": 1.5}
    assert dumps([math.nan]) == "[null]"


def test_identity_compares_as_stored(tmp_path):
    check_identity(tmp_path, {"betas": (0.5, 0.9), "budget": math.inf})
    check_identity(tmp_path, {"betas": (0.5, 0.9), "budget": math.inf})  # a tuple is a list once stored
    (tmp_path / "config.json").write_text("{cut")
    with pytest.raises(ArchscoutError, match="delete .*config.json \\(or the run folder\\) or use another --name"):
        check_identity(tmp_path, {"betas": (0.5, 0.9)})


def test_stage_records_must_hold_what_is_read(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("[1, 2]")
    with pytest.raises(ArchscoutError, match="not a JSON object; delete"):
        read_done(path)
    path.write_text('{"arch": "x"}')
    with pytest.raises(ArchscoutError, match="it has no 'seconds'; delete"):
        read_done(path, ("arch", "seconds"))
    assert read_done(path, ("arch",)) == {"arch": "x"}


def test_checkpoints_load_only_plain_data(tmp_path):
    import torch

    from archscout._rundir import atomic_save, load_checkpoint, plain
    from helpers import Planted

    good = tmp_path / "good.pt"
    state = plain({"fitness": np.float64(0.25), "rng": np.random.default_rng(0).bit_generator.state,
                   "w": torch.ones(2), "n": (np.int64(3), math.nan)})
    atomic_save(state, good)
    back = load_checkpoint(good, ("fitness", "rng"))
    assert back["fitness"] == 0.25 and type(back["fitness"]) is float and torch.equal(back["w"], torch.ones(2))
    assert back["rng"] == np.random.default_rng(0).bit_generator.state and math.isnan(back["n"][1])
    (tmp_path / "good.pt.cut").write_bytes(good.read_bytes()[:100])
    bad = tmp_path / "bad.pt"
    torch.save({"x": Planted(tmp_path / "pwned")}, bad)
    for path, keys, text in ((bad, (), "holds objects other than tensors"), (good, ("model",), "it has no 'model'"),
                             (tmp_path / "missing.pt", (), "it does not exist"),
                             (tmp_path / "good.pt.cut", (), "truncated or corrupt")):
        with pytest.raises(ArchscoutError) as info:
            load_checkpoint(path, keys)
        msg = str(info.value)
        assert "\n" not in msg and text in msg and f"delete {path} (or the run folder) or use another --name" in msg
    assert not (tmp_path / "pwned").exists()


def test_config_floats_must_be_finite():
    from archscout.autospace import EvolveConfig
    from archscout.autospace._tabular import TabularConfig
    from archscout.oneshot import get_profile
    from archscout.train import TrainConfig

    for make, field in ((lambda v: TrainConfig(lr=v), "lr"), (lambda v: TrainConfig(weight_decay=v), "weight_decay"),
                        (lambda v: get_profile("darts", "cpu", lr=v), "lr"),
                        (lambda v: get_profile("darts", "cpu", arch_betas=(0.5, v)), "arch_betas"),
                        (lambda v: EvolveConfig(budget_madds=v), "budget_madds"),
                        (lambda v: TabularConfig(max_latency=v), "max_latency")):
        for v in (math.inf, float("1e309"), math.nan):
            with pytest.raises(ArchscoutError, match=f"^{field} .* must be a finite number$"):
                make(v)
