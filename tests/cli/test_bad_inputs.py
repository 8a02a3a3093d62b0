"""A corpus of bad inputs from the security and crash-safety review: each is one line and exit 2, and
leaves nothing behind that blocks the corrected command."""

import pytest

from archscout.cli import main

NB = ["--space", "nb201", "--arch", "11472", "--suite", "digits-shift", "--split", "iid"]
CASES = {
    "train --lr inf": (["train", *NB, "--lr", "inf"], "'inf' is not a finite number"),
    "train --lr 1e309": (["train", *NB, "--lr", "1e309"], "'1e309' is not a finite number"),
    "train --net N=0": (["train", *NB, "--net", "N=0"], "N=0"),
    "train --net C=-1": (["train", *NB, "--net", "C=-1"], "C=-1"),
    "train --name ../../x": (["train", *NB, "--name", "../../x"], "'../../x' is not a run name"),
    "oneshot --cost-weight inf": (["oneshot", "--method", "darts", "--suite", "digits-shift", "--split", "iid",
                                   "--device", "raspi4", "--cost-weight", "inf"], "not a finite number"),
    "space evolve --budget-madds 1e309": (["space", "evolve", "--base", "nb201", "--budget-madds", "1e309"],
                                          "not a finite number"),
    "search --multi-trial --seed -1": (["search", "--multi-trial", "--seed", "-1"], "--seed -1"),
    "bench --strategies ''": (["bench", "--strategies", ""], "names no strategy"),
    "hw measure --warmup inf": (["hw", "measure", "--space", "nb201", "--dataset", "cifar10", "--warmup", "inf"],
                                "not a finite number"),
    "hw measure --warmup nan": (["hw", "measure", "--space", "nb201", "--dataset", "cifar10", "--warmup", "nan"],
                                "not a finite number"),
    "hw measure --pin-cpu 99": (["hw", "measure", "--space", "nb201", "--dataset", "cifar10", "--pin-cpu", "99"],
                                "--pin-cpu 99"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2(case, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, words = CASES[case]
    code = main([*args, *(["--root", str(tmp_path / "m")] if args[:2] == ["hw", "measure"] else [])])
    out, err = capsys.readouterr()
    assert code == 2, (case, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, (case, err)
    assert not (tmp_path / "m").exists() and not (tmp_path / "runs").exists()  # nothing written


def test_bench_out_that_is_a_file_fails_before_the_work(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    code = main(["bench", "--out", str(tmp_path / "f"), "--seeds", "1"])
    _, err = capsys.readouterr()
    assert code == 2 and "is a file" in err and err.count("\n") == 1
