"""``archscout hw predict``: predictors scored on held-out archs of a device's table."""

import json

from archscout.cli import main


def test_predict_json_has_every_predictor_and_the_flops_baseline(capsys):
    assert main(["hw", "predict", "--device", "raspi4", "--train", "60", "--few-shot", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device"] == "raspi4_latency" and out["train"] == 60 and out["test"] == 15625 - 60
    assert set(out["predictors"]) == {"linear", "additive", "gbm", "structure", "flops", "fewshot", "stacked"}
    for r in out["predictors"].values():
        assert set(r) == {"spearman", "kendall", "within_5pct", "within_10pct"} and -1 <= r["spearman"] <= 1
    assert out["predictors"]["fewshot"]["spearman"] > out["predictors"]["flops"]["spearman"]


def test_predict_few_archs_reports_every_predictor(capsys):
    assert main(["hw", "predict", "--device", "pixel3", "--train", "20", "--few-shot", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "skipped" not in out and {"linear", "flops", "fewshot", "stacked"} <= set(out["predictors"])
    assert main(["hw", "predict", "--device", "pixel3", "--train", "3", "--json"]) == 0  # under 5: skipped
    out = json.loads(capsys.readouterr().out)
    assert set(out["predictors"]) == {"flops"} and "needs at least 5" in out["skipped"]["linear"]


def test_predict_bad_input_is_one_line(capsys):
    for args, word in ((["--device", "nope"], "nope"), (["--device", "raspi4", "--train", "1"], "needs at least"),
                       (["--device", "edgetpu", "--train", "20000"], "archs with data"),
                       (["--device", "raspi4", "--space", "fbnet"], "nb201")):
        assert main(["hw", "predict", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and word in err, err


def test_a_gpu_measured_at_several_batch_sizes_means_batch_size_1(capsys):
    assert main(["hw", "predict", "--device", "1080ti", "--train", "60", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == "1080ti_latency_bs1"
