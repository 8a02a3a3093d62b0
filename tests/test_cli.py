import json
import os
import shutil
import subprocess
import sys

import pytest

from archscout.cli import main
from archscout.hardware import _tables

ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_devices_json(capsys):
    code, out, _ = run(capsys, "hw", "devices", "--json")
    devices = {d["name"]: d for d in json.loads(out)}
    assert code == 0 and {"edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga", "2080ti"} <= set(devices)
    assert devices["eyeriss"]["kind"] == "estimated"
    assert {"name": "edgegpu_energy", "quantity": "energy", "unit": "mJ"}.items() <= \
        devices["edgegpu"]["metrics"][1].items()


def test_devices_table(capsys):
    code, out, _ = run(capsys, "hw", "devices")
    assert code == 0 and all(d in out for d in ("raspi4", "edgegpu", "eyeriss", "silver_4114"))


def test_query_json_nb201_by_string(capsys):
    code, out, _ = run(capsys, "hw", "query", "--space", "nb201", "--dataset", "cifar10", "--arch", ARCH0, "--json")
    obj = json.loads(out)
    assert code == 0 and (obj["arch"], obj["index"]) == (ARCH0, 0)
    assert obj["metrics"]["average_hw_metric"] == 591005.8676719831


@pytest.mark.parametrize("index", ["0", "1", "2"])
def test_query_json_nb201_notebook(capsys, fixtures, index):
    notebook = json.loads((fixtures / "hwnasbench_notebook.json").read_text())["nasbench201"][index]
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        code, out, _ = run(capsys, "hw", "query", "--space", "nb201", "--dataset", dataset, "--arch", index, "--json")
        obj = json.loads(out)
        assert code == 0
        assert (obj["space"], obj["dataset"], obj["index"]) == ("nb201", dataset, int(index))
        for metric, value in notebook[dataset].items():
            assert obj["metrics"][metric] == value
        assert {"params", "flops", "train_acc", "valid_acc", "test_acc"} <= set(obj["metrics"])
        assert isinstance(obj["metrics"]["params"], int)


@pytest.mark.parametrize("key", ["0000000000000000000000", "0000000000000000000001", "0000000000000000000011"])
def test_query_json_fbnet(capsys, fixtures, key):
    notebook = json.loads((fixtures / "hwnasbench_notebook.json").read_text())["fbnet"][key]
    for dataset, sep in (("cifar100", " "), ("ImageNet", ",")):
        code, out, _ = run(capsys, "hw", "query", "--space", "fbnet", "--dataset", dataset, "--arch", sep.join(key),
                           "--json")
        obj = json.loads(out)
        assert code == 0 and obj["arch"].split()[0] == "k3_e1" and "index" not in obj
        for metric, value in notebook[dataset].items():
            assert obj["metrics"][metric] == value


def test_query_missing_is_null_with_reason(capsys):
    code, out, _ = run(capsys, "hw", "query", "--space", "nb201", "--dataset", "cifar10", "--arch", "9", "--json")
    obj = json.loads(out)
    assert obj["metrics"]["edgetpu_latency"] is None and "Edge TPU" in obj["missing"]["edgetpu_latency"]
    code, out, _ = run(capsys, "hw", "query", "--space", "nb201", "--dataset", "cifar10", "--arch", "9")
    assert code == 0 and "n/a: no Edge TPU" in out


def test_query_device_filter_and_table(capsys):
    code, out, _ = run(capsys, "hw", "query", "--space", "nb201", "--dataset", "cifar100", "--arch", "5",
                       "--device", "raspi4", "--json")
    metrics = json.loads(out)["metrics"]
    assert "raspi4_latency" in metrics and "edgegpu_latency" not in metrics and "params" in metrics
    code, out, _ = run(capsys, "hw", "query", "--space", "fbnet", "--dataset", "cifar100", "--arch", "0 " * 22)
    assert code == 0 and "edgegpu_latency" in out and "5,000 sampled" in out


BAD = [
    (["--space", "nb999", "--dataset", "cifar10", "--arch", "0"], "unknown space 'nb999'; choose from: nb201"),
    (["--space", "nb201", "--dataset", "imagenet", "--arch", "0"], "unknown nb201 dataset 'imagenet'; choose from:"),
    (["--space", "fbnet", "--dataset", "cifar10", "--arch", "0"], "unknown fbnet dataset 'cifar10'; choose from:"),
    (["--space", "nb201", "--dataset", "cifar10", "--arch", "0", "--device", "tpu"], "unknown device 'tpu'"),
    (["--space", "nb201", "--dataset", "cifar10", "--arch", ARCH0.replace("avg_pool_3x3", "avgpool")],
     "unknown nb201 op 'avgpool'; choose from: avg_pool_3x3"),
    (["--space", "nb201", "--dataset", "cifar10", "--arch", "|none~0|+|none~0|"], "malformed architecture string"),
    (["--space", "nb201", "--dataset", "cifar10", "--arch", "15625"], "index 15625 is out of range; accepted: 0..15624"),
    (["--space", "fbnet", "--dataset", "cifar100", "--arch", "0 " * 21], "22"),
    (["--space", "fbnet", "--dataset", "cifar100", "--arch", "k3_e2 " * 22], "k3_e2"),
    (["--space", "fbnet", "--dataset", "cifar100", "--arch", "\u00b2 " * 22], "unknown op"),
    (["--space", "nb201", "--dataset", "cifar10", "--arch", "\u00b2"], "malformed"),
    (["--space", "nb201", "--dataset", "cifar10", "--arch=--5"], "malformed"),
    (["--space", "nb201", "--dataset", "cifar10", "--arch", "1.5"], "got 1"),
    (["--space", "nb201", "--dataset", "cifar10", "--arch", ""], "malformed"),
    (["--space", "fbnet", "--dataset", "cifar100", "--arch", "0 " * 22, "--device", "edgetpu"],
     "unknown device for fbnet/cifar100 'edgetpu'; choose from:"),
    (["--space", "nb201", "--dataset", "cifar100", "--arch", "0", "--device", "1080ti"], "unknown device for nb201"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_one_line_exit_2(capsys, args, message):
    code, out, err = run(capsys, "hw", "query", *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_click_usage_errors_are_one_line(capsys):
    code, _, err = run(capsys, "hw", "query", "--space", "nb201")
    assert code == 2 and err.startswith("error: Missing option") and err.count("\n") == 1


def test_corrupted_table_via_cli(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(_tables.data_dir(), folder)
    (folder / "nb201_accuracy.npz").write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "archscout.cli", "hw", "query", "--space", "nb201", "--dataset",
                           "cifar10", "--arch", "0"], capture_output=True, text=True,
                          env={**os.environ, "ARCHSCOUT_DATA_DIR": str(folder)})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "nb201_accuracy.npz is corrupted" in proc.stderr


def test_import_is_light():
    code = ("import sys, archscout, archscout.cli; archscout.get_cost_model('nb201', 'cifar10').query(0); "
            "print(sorted(m for m in ('torch', 'ray', 'onnxruntime', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("raised", [KeyboardInterrupt, __import__("click").exceptions.Abort])
def test_ctrl_c_exits_130_saying_that_the_same_command_resumes(capsys, monkeypatch, tmp_path, raised):
    import archscout.cli._train

    def interrupted(*args, **kwargs):
        raise raised()

    monkeypatch.setattr(archscout.cli._train, "check_where", interrupted)
    code, out, err = run(capsys, "train", "--arch", "1", "--run-dir", str(tmp_path))
    # click ends the ^C line first (KeyboardInterrupt); then one line
    assert code == 130 and out == "" and err.lstrip("\n") == "interrupted: re-run the same command to resume\n"
