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
