"""``archscout data`` through the CLI: the suite list, the shift JSON, one-line errors."""

import json

import pytest

import archscout.cli._data  # noqa: F401  (registers the command family)
from archscout.cli import main
from helpers import one_torch_thread

TINY = ["--trials", "1", "--epochs", "2", "--dim-z", "2", "--samples", "500", "--per-domain", "200"]


@pytest.fixture
def one_thread():
    with one_torch_thread():
        yield


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_data_list_json_and_table(capsys):
    code, out, _ = run(capsys, "data", "list", "--json")
    assert code == 0
    suites = {s["suite"]: s for s in json.loads(out)}
    assert {"fmnist-shift-v1", "digits-shift-v1"} <= set(suites)
    fm = suites["fmnist-shift-v1"]
    assert {"iid", "correlation", "rotation", "style"} <= {p["name"] for p in fm["splits"]}
    rot75 = next(d for d in fm["domains"] if d["name"] == "rot75")
    assert rot75["family"] == "rotation" and "75" in rot75["description"]
    code, out, _ = run(capsys, "data", "list")
    assert code == 0 and "fmnist-shift-v1" in out and "color10" in out and "rotation-lodo-rot0" in out


def test_data_shift_json(capsys, one_thread):
    code, out, _ = run(capsys, "data", "shift", "--suite", "digits-shift", "--split", "correlation", "--json", *TINY)
    assert code == 0
    obj = json.loads(out)  # exactly one JSON object on stdout
    assert obj["suite"] == "digits-shift-v1" and obj["split"] == "correlation" and obj["trials"] == 1
    assert obj["calibrated"] is True and obj["formula"] == "current" and "cnn" in obj["backbone"]
    for key in ("diversity", "correlation"):
        assert set(obj[key]) >= {"mean", "std"} and obj[key]["std"] == 0.0
    assert set(obj["thresholds"]) == {"eps_div", "eps_cor"} and obj["calibration"]["band"] == [0.005, 0.01]
    code, out, _ = run(capsys, "data", "shift", "--suite", "digits-shift", "--split", "iid", "--legacy",
                       "--no-calibrate", "--json", *TINY)
    obj = json.loads(out)
    assert code == 0 and obj["formula"] == "legacy" and obj["calibrated"] is False and obj["calibration"] is None
    assert obj["thresholds"] == {"eps_div": 1e-12, "eps_cor": 5e-4}


@pytest.mark.parametrize("args, message", [
    (["--suite", "mnist-shift", "--split", "iid"], "unknown suite 'mnist-shift'; choose from:"),
    (["--suite", "digits-shift", "--split", "colour"], "unknown split of digits-shift-v1 'colour'; choose from:"),
    (["--suite", "digits-shift", "--split", "iid", "--trials", "0"], "trials 0 must be a positive number"),
    (["--suite", "digits-shift", "--split", "iid", "--epochs", "1"], "--epochs 1 must be at least 2"),
])
def test_data_shift_bad_input_one_line(capsys, args, message):
    code, out, err = run(capsys, "data", "shift", *args)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_data_shift_defaults_are_the_library_defaults():
    from archscout.cli._data import data_shift
    from archscout.data._shift_metrics import ShiftMetricsConfig

    defaults = {p.name: p.default for p in data_shift.params}
    config = ShiftMetricsConfig()
    assert (defaults["trials"], defaults["seed"], defaults["dim_z"], defaults["epochs"], defaults["samples"]) == \
        (config.trials, config.seed, config.dim_z, config.epochs, config.samples)
    assert config.swa_start == config.epochs // 2 and config.formula == "current" and config.calibrate
