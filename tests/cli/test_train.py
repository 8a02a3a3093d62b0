"""``archscout train`` through the CLI: JSON figures, resume, one-line errors with exit code 2."""

import json

import pytest

import archscout.cli._train  # noqa: F401  (registers the command; cli/__init__ imports it too)
from archscout.cli import main

BASE = ["train", "--suite", "digits-shift", "--split", "correlation", "--epochs", "2", "--batch-size", "32",
        "--net", "C=4", "--net", "N=1", "--threads", "1"]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json_and_resume(capsys, tmp_path):
    args = [*BASE, "--arch", "11472", "--run-dir", str(tmp_path), "--json"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    obj = json.loads(out)
    for key in ("id_acc", "ood_acc", "selection_rule", "params", "arch", "space", "suite", "split", "seed",
                "selected_epoch", "throughput", "id_per_domain", "ood_per_domain"):
        assert key in obj
    assert obj["selection_rule"] == "training-domain validation" and obj["suite"] == "digits-shift-v1"
    assert obj["arch"] == "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    assert set(obj["id_per_domain"]) == {"color90", "color80"} and set(obj["ood_per_domain"]) == {"color10"}
    run_dir = tmp_path / "nb201-11472-digits-shift-correlation-s0"
    assert obj["run_dir"] == str(run_dir) and (run_dir / "model.pt").exists()
    code, again, _ = run(capsys, *args)  # resumes: nothing left to train, same figures
    assert code == 0 and {k: v for k, v in json.loads(again).items() if k != "seconds"} == \
        {k: v for k, v in obj.items() if k != "seconds"}
    code, _, err = run(capsys, *[a if a != "2" else "3" for a in args])
    assert code == 2 and err.count("\n") == 1 and "another config" in err and "train.epochs" in err


def test_train_string_arch_oracle_and_table(capsys, tmp_path):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    code, out, err = run(capsys, *BASE, "--arch", arch, "--selection", "oracle", "--run-dir", str(tmp_path),
                         "--name", "o")
    assert code == 0, err
    assert "oracle (test-domain)" in out and "color10" in out and "model.pt" in out
    assert json.loads((tmp_path / "o" / "result.json").read_text())["arch_index"] == 1462


@pytest.mark.parametrize("args, text", [
    (["--space", "nb999", "--arch", "1"], "unknown space 'nb999'"),
    (["--arch", "99999"], "out of range"),
    (["--arch", "1", "--suite", "cifar"], "unknown suite 'cifar'"),
    (["--arch", "1", "--split", "sideways"], "unknown split of digits-shift-v1 'sideways'"),
    (["--arch", "1", "--selection", "test-domain"], "unknown selection rule 'test-domain'"),
    (["--arch", "1", "--net", "C"], "not KEY=VALUE"),
    (["--arch", "1", "--net", "width=3"], "bad network settings"),
    (["--arch", "1", "--epochs", "0"], "--epochs"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, text):
    code, out, err = run(capsys, *BASE, "--run-dir", str(tmp_path), *args)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1 and text in err


@pytest.mark.parametrize("args, text", [
    (["--accelerator", "gpu"], "unknown accelerator 'gpu'; choose from: auto, cpu, cuda, cuda:N, mps"),
    (["--precision", "fp8"], "fp8"),
] + ([] if __import__("torch").cuda.is_available() else [(["--accelerator", "cuda"], "'cuda' is not available")]))
def test_accelerator_errors_are_one_line_exit_2(capsys, tmp_path, args, text):
    code, out, err = run(capsys, *BASE, "--arch", "11472", "--run-dir", str(tmp_path), *args)
    assert code == 2 and text in err and err.count("\n") == 1 and not list(tmp_path.iterdir())


def test_default_run_name_of_a_folder_suite_is_one_folder():
    from archscout.cli._train import _default_name

    assert _default_name("nb201", "x", 11472, "/data/my sets/PACS/", "lodo-sketch", 0) == \
        "nb201-11472-PACS-lodo-sketch-s0"
    assert _default_name("nb201", "x", 11472, "fmnist-shift", "correlation", 2) == \
        "nb201-11472-fmnist-shift-correlation-s2"


def _figures(run_dir):
    """result.json without what depends on the clock (times, throughput) or on where the run lives."""
    out = json.loads((run_dir / "result.json").read_text())
    for key in ("seconds", "throughput", "run_dir", "model_path"):
        out.pop(key)
    out["history"] = [{k: v for k, v in h.items() if k not in ("seconds", "train_seconds")} for h in out["history"]]
    return out


def test_kill_9_then_the_same_command_resumes_to_the_uninterrupted_figures(tmp_path):
    import torch

    from helpers import kill_and_resume

    args = ["train", "--suite", "digits-shift", "--split", "correlation", "--arch", "11472", "--epochs", "4",
            "--batch-size", "32", "--net", "C=4", "--net", "N=1", "--threads", "1", "--accelerator", "cpu", "--json"]
    killed, full = kill_and_resume(args, tmp_path, 4)
    assert _figures(killed) == _figures(tmp_path / "full" / "k")
    a, b = (torch.load(d / "model.pt", weights_only=True)["state_dict"] for d in (killed, full))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["../../x", "ABS", "", "a/b", "..", ".hidden"])
def test_a_name_that_is_not_one_folder_is_refused_before_any_work(capsys, tmp_path, name):
    parent = tmp_path / "one" / "two"
    parent.mkdir(parents=True)
    name = str(tmp_path / "abs") if name == "ABS" else name
    code, out, err = run(capsys, *BASE, "--arch", "11472", "--run-dir", str(parent), "--name", name)
    assert code == 2 and out == "" and err.count("\n") == 1 and f"--name {name!r} is not a run name" in err
    assert [p for p in tmp_path.rglob("*")] == [tmp_path / "one", parent]  # nothing written anywhere


def test_a_run_dir_that_is_a_file_is_one_line(capsys, tmp_path):
    (tmp_path / "f").write_text("")
    for run_dir in (tmp_path / "f", tmp_path / "f" / "sub"):
        code, _, err = run(capsys, *BASE, "--arch", "11472", "--run-dir", str(run_dir))
        assert code == 2 and err.count("\n") == 1 and f"--run-dir {run_dir} is not a folder" in err


def test_a_truncated_or_crafted_checkpoint_is_refused_in_one_line_and_kept(capsys, tmp_path):
    import torch

    from helpers import plant_checkpoint

    args = [*BASE, "--arch", "11472", "--epochs", "1", "--run-dir", str(tmp_path), "--name", "t", "--json"]
    assert run(capsys, *args)[0] == 0
    ckpt = tmp_path / "t" / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[:len(data) // 2])
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"cannot read checkpoint {ckpt}: truncated or corrupt" in err
    assert f"delete {ckpt} (or the run folder) or use another --name" in err
    assert ckpt.read_bytes() == data[:len(data) // 2]  # never overwritten by a fresh start
    control = tmp_path / "control"
    plant_checkpoint(ckpt, control)
    torch.load(ckpt, weights_only=False)  # what loading it unsafely would do: the file is created
    assert control.exists()
    plant_checkpoint(ckpt, tmp_path / "pwned")
    code, out, err = run(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and f"cannot read checkpoint {ckpt}: it holds objects other" in err
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("args, text", [
    (["--lr", "inf"], "'--lr': 'inf' is not a finite number"),
    (["--lr", "1e309"], "'--lr': '1e309' is not a finite number"),
    (["--lr", "nan"], "'--lr': 'nan'"),
    (["--net", "N=0"], "net setting N=0 must be an integer >= 1"),
    (["--net", "C=0"], "net setting C=0 must be an integer >= 1"),
    (["--net", "C=-1"], "net setting C=-1 must be an integer >= 1"),
    (["--net", "C=2.5"], "net setting C=2.5 must be an integer >= 1"),
])
def test_values_that_would_give_silent_wrong_figures_are_refused(capsys, tmp_path, args, text):
    code, out, err = run(capsys, *BASE, "--arch", "11472", "--run-dir", str(tmp_path), *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and text in err, err
    assert not list(tmp_path.iterdir())
