"""``archscout hw measure``: a measured set-up becomes a device that ``hw predict`` and the registry know."""

import json

from archscout.cli import main

FAST = ["--repeats", "2", "--runs", "2", "--warmup", "0", "--backend", "torch"]


def test_measure_extends_and_registers(tmp_path, capsys):
    root = ["--root", str(tmp_path)]
    assert main(["hw", "measure", "--archs", "2", "--name", "clicpu", "--json", *FAST, *root]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device"] == "clicpu" and out["archs"] == 2 and out["table_rows"] == 2
    assert out["fingerprint"]["threads"] == 1 and out["fingerprint"]["backend"] == "torch"
    assert 0 < out["latency_ms"]["min"] <= out["latency_ms"]["max"] and out["cv"]["median"] >= 0
    assert out["cv_runs"]["median"] >= 0 and out["reference_ms"]["min"] > 0
    # the seeded sample extends: 3 archs = the same 2 + 1 new
    assert main(["hw", "measure", "--archs", "3", "--json", *FAST, *root]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device"] == "clicpu" and out["table_rows"] == 3
    assert main(["hw", "devices", "--json"]) == 0
    devices = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert devices["clicpu"]["kind"] == "measured" and devices["clicpu"]["coverage"] == {"nb201": ["cifar10"]}


def test_measure_fbnet(tmp_path, capsys):
    args = ["hw", "measure", "--space", "fbnet", "--dataset", "cifar100", "--archs", "1", "--json", *FAST]
    assert main([*args, "--root", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["archs"] == 1 and out["space"] == "fbnet" and out["latency_ms"]["min"] > 0


def test_measure_bad_input_is_one_line(tmp_path, capsys):
    for args, word in ((["--space", "darts"], "darts/cifar10"), (["--dataset", "ImageNet"], "nb201/ImageNet"),
                       (["--backend", "tensorrt"], "tensorrt"), (["--name", "raspi4"], "built-in"),
                       (["--name", "bad name!"], "bad name!"), (["--lut"], "--space fbnet")):
        assert main(["hw", "measure", "--archs", "1", *FAST, "--root", str(tmp_path), *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and word in err, err
