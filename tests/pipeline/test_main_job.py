"""The main job on smoke sizes (digits-shift): every output with its documented keys, resume without
redoing finished stages, a verified ONNX model, one-line errors for bad settings."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from archscout.exceptions import ArchscoutError
from archscout.pipeline import RESNET_CELL, MainJobConfig, best_cifar10_cell, run_main_job
from archscout.pipeline import latency_metrics
from helpers import one_line

torch.set_num_threads(1)
# until NAS-OoD is registered the tests search with GDAS (the method is a parameter of the job)
SMOKE = {"suite": "digits-shift", "method": "gdas", "baseline_method": "darts", "profile": "smoke"}
REQUIRED = ("arch", "device", "latency_ms", "id_acc", "ood_acc", "selection_rule", "seeds", "baselines")
BASELINE = ("name", "arch", "latency_ms", "id_acc", "ood_acc")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("main")
    return run_main_job(MainJobConfig(**SMOKE, run_dir=str(root), name="smoke"))


def test_writes_every_output_with_the_documented_keys(job):
    run = job.run_dir
    for f in ("result.json", "report.html", "model.pt", "model.onnx", "config.json", "figures/accuracy.png",
              "figures/latency.png", "figures/cells.png", "figures/curves.png", "figures/search.png",
              "search/result.json",
              "baseline-search/result.json"):
        assert (run / f).is_file(), f
    result = json.loads((run / "result.json").read_text())
    assert all(k in result for k in REQUIRED)
    assert result["device"] == "raspi4" and result["latency_metric"] == "raspi4_latency"
    assert result["max_latency_ms"] == 20.0 and result["meets_budget"] is True and result["latency_ms"] <= 20.0
    assert result["selection_rule"] == "training-domain validation" and result["seeds"] == [0]
    assert result["params"] > 0 and result["search_seconds"] > 0
    assert set(result["latency_all"]) == set(latency_metrics()) and len(result["latency_all"]) > 6
    assert result["data"]["split"] == "style-lodo-noise" and result["data"]["test_domains"] == ["noise"]
    assert "python" in result["versions"] and "onnxruntime" in result["versions"]
    names = [b["name"] for b in result["baselines"]]
    assert len(names) == 5 and all(all(k in b for k in BASELINE) for b in result["baselines"])
    assert result["baselines"][0]["arch_index"] == RESNET_CELL
    assert result["baselines"][1]["arch_index"] == best_cifar10_cell() == 6111  # by valid_acc, never test_acc
    assert result["baselines"][2]["arch_index"] == 2058 and result["baselines"][2]["meets_budget"]  # best within
    search = json.loads((run / "baseline-search/result.json").read_text())
    assert result["baselines"][3]["arch"] == search["arch"] and search["cost"] is None  # no latency target
    randoms = result["baselines"][4]
    assert len(randoms["cells"]) == 5 == len(result["random_feasible"]) and randoms["meets_budget"] is True
    assert randoms["ood_acc"] == pytest.approx(np.mean([r["ood_acc"] for r in result["random_feasible"]]))
    diag = result["search"]["diagnostics"]
    assert set(diag) >= {"entropy_final", "entropy_uniform", "learned", "decided_by"}
    assert diag["entropy_uniform"] == pytest.approx(np.log(5)) and diag["decided_by"] in ("search", "penalty",
                                                                                            "fallback")
    assert json.loads((run / "search/result.json").read_text())["config"]["cost"]["target"] == 20.0
    assert result["compute"]["precision"] == "fp32" and result["compute"]["torch"] == torch.__version__
    for entry in [result, *result["baselines"][:4]]:
        assert set(entry["latency_all"]) == set(result["latency_all"])
        assert entry["curve"] and entry["curve"][0]["epoch"] == 1


def test_onnx_is_verified_and_matches_the_saved_model(job):
    import onnxruntime as ort

    from archscout.train import load_model

    onnx = job["onnx"]
    assert onnx["passed"] and onnx["max_abs_diff"] <= onnx["tolerance"] == 1e-4 and "noise" in onnx["data"]
    model = load_model(job.run_dir / "model.pt")
    x = torch.rand(5, 3, 16, 16)
    sess = ort.InferenceSession(str(job.run_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": x.numpy()})[0]
    np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-4)
    assert model.info["arch"] == job["arch"]


def test_rerun_resumes_without_redoing_finished_stages(job, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr("archscout.train.train", boom)
    monkeypatch.setattr("archscout.oneshot._base.OneShotMethod.search", boom)
    config = MainJobConfig(**SMOKE, run_dir=str(job.run_dir.parent), name="smoke")
    stamp = {f: os.stat(job.run_dir / f).st_mtime_ns for f in ("model.onnx", "model.pt", "report.html")}
    again = run_main_job(config)
    assert again.ran == [] and again["arch"] == job["arch"] and again["ood_acc"] == job["ood_acc"]
    assert stamp == {f: os.stat(job.run_dir / f).st_mtime_ns for f in stamp}
    # lost outputs are rebuilt, nothing else
    (job.run_dir / "model.onnx").unlink()
    (job.run_dir / "report.html").unlink()
    again = run_main_job(config)
    assert again.ran == ["export", "report"] and (job.run_dir / "report.html").is_file()


def test_every_trained_model_is_flagged_when_degenerate_in_result_json_and_the_report(job):
    import html

    from archscout.report import render_html

    result = json.loads((job.run_dir / "result.json").read_text())
    report = (job.run_dir / "report.html").read_text()
    for entry in [result, *result["baselines"][:4]]:  # each cell's flag is its (one) seed's training run's
        run = json.loads((Path(entry["per_seed"][0]["run_dir"]) / "result.json").read_text())
        assert entry["degenerate"] == entry["per_seed"][0]["degenerate"] == run["degenerate"]
        assert run["prediction_stats"]["test"]["all"]["images"] == 60
    randoms = result["baselines"][4]
    flagged = [r for r in result["random_feasible"] if r["degenerate"]]
    assert (randoms["degenerate"] is None) == (not flagged)
    assert all(f"cell {r['arch_index']}: {r['degenerate']}" in randoms["degenerate"] for r in flagged)
    for entry in [result, *result["baselines"]]:  # smoke models (one epoch) may well be degenerate: in words
        assert "degenerate" in entry and (entry["degenerate"] is None or html.escape(entry["degenerate"]) in report)
    fine = {**result, "degenerate": None, "baselines": [{**b, "degenerate": None} for b in result["baselines"]]}
    assert "Degenerate models" not in render_html(fine, {})
    forced = {**fine, "baselines": [{**fine["baselines"][0], "degenerate": "predicts class '7' for all 60"},
                                    *fine["baselines"][1:]]}
    assert f"{result['baselines'][0]['name']}</b>: predicts class &#x27;7&#x27; for all 60" in render_html(forced, {})


def test_archscout_search_prints_a_warning_per_degenerate_model(job, capsys):
    from archscout.cli._search import _print_main, main_summary

    result = {**job.result, "degenerate": "predicts class '7' for all 60 test-domain images",
              "baselines": [{**b, "degenerate": None} for b in job["baselines"]]}
    _print_main(result, job.run_dir)
    out = " ".join(capsys.readouterr().out.split())
    assert f"warning: {result['name_of_arch']} is degenerate: predicts class '7' for all 60" in out
    assert out.count("is degenerate") == 1
    summary = main_summary(result, job.run_dir)
    assert summary["degenerate"] == result["degenerate"] and summary["baselines"][0]["degenerate"] is None


def test_a_training_run_older_than_the_flag_is_re_read(job):
    run = Path(job["baselines"][0]["per_seed"][0]["run_dir"])
    old = json.loads((run / "result.json").read_text())
    (run / "result.json").write_text(json.dumps({k: v for k, v in old.items()
                                                 if k not in ("degenerate", "prediction_stats")}))
    again = run_main_job(MainJobConfig(**SMOKE, run_dir=str(job.run_dir.parent), name="smoke"))
    assert [r for r in again.ran if "search" in r or r.startswith("train")] == [f"train:{RESNET_CELL}:0"]
    new = json.loads((run / "result.json").read_text())  # re-read by train: no epoch trained, the flag back
    assert new["history"] == old["history"] and new["degenerate"] == old["degenerate"]
    assert again["baselines"][0]["degenerate"] == job["baselines"][0]["degenerate"]


def test_an_interrupted_training_stage_resumes_and_keeps_the_others(tmp_path):
    config = MainJobConfig(**SMOKE, run_dir=str(tmp_path), name="r")
    first = run_main_job(config)
    run = first.run_dir
    lost = Path(first["baselines"][0]["per_seed"][0]["run_dir"])  # the ResNet cell's training run
    (lost / "result.json").unlink()  # as if killed after its last checkpoint, before its result
    again = run_main_job(config)
    assert again.ran == [f"train:{RESNET_CELL}:0"]  # same figures as before: result.json and report stand
    assert again["baselines"][0]["ood_acc"] == first["baselines"][0]["ood_acc"]
    # another config in the same run directory is refused, in one line
    with pytest.raises(ArchscoutError, match="was created with another config"):
        run_main_job(MainJobConfig(**{**SMOKE, "baseline_method": "gdas"}, run_dir=str(tmp_path), name="r"))
    assert (run / "result.json").is_file()


@pytest.mark.parametrize("settings,message", [
    ({"method": "bogus"}, "unknown search method 'bogus'"),
    ({"baseline_method": "bogus"}, "unknown one-shot method 'bogus'"),
    ({"device": "rpi4"}, "unknown device 'rpi4'"),
    ({"max_latency": 0.001}, "raspi4_latency <= 0.001"),
    ({"max_latency": 1.0}, "raspi4_latency <= 1 ms"),  # only cells cut off from their input are cheaper
    ({"profile": "huge"}, "unknown profile 'huge'"),
    ({"space": "fbnet"}, "unknown space of the main job"),
    ({"split": "nope"}, "unknown split of digits-shift-v1 'nope'"),
    ({"seeds": ()}, "must be one or more integers"),
    ({"search_overrides": {"bogus": 1}}, "search setting(s) bogus unknown"),
    ({"train_overrides": {"bogus": 1}}, "training setting(s) bogus unknown"),
    ({"accelerator": "gpu"}, "unknown accelerator 'gpu'; choose from: auto, cpu, cuda, cuda:N, mps"),
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
] + ([] if torch.cuda.is_available() else [({"accelerator": "cuda"}, "'cuda' is not available")]))
def test_bad_settings_fail_before_any_work_in_one_line(tmp_path, settings, message):
    one_line(ArchscoutError, lambda: run_main_job(MainJobConfig(**{**SMOKE, **settings}, run_dir=str(tmp_path),
                                                                name="bad")), message)
    assert not (tmp_path / "bad").exists()


def _folder(root: Path, domains: list[str]) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for d in domains:
        for c in ("a", "b"):
            (root / d / c).mkdir(parents=True)
            for i in range(12):
                pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) // (2 if c == "a" else 1)
                Image.fromarray(pixels).save(root / d / c / f"{i}.png")
    return root


def test_a_folder_with_one_domain_is_a_one_line_error(tmp_path):
    folder = _folder(tmp_path / "one", ["only"])
    one_line(ArchscoutError, lambda: run_main_job(MainJobConfig(**{**SMOKE, "suite": str(folder)},
                                                                run_dir=str(tmp_path), name="f")),
             "has one domain folder")


def test_a_domainbed_folder_runs_leaving_its_last_domain_out(tmp_path):
    folder = _folder(tmp_path / "mine", ["art", "photo", "sketch"])
    job = run_main_job(MainJobConfig(**{**SMOKE, "suite": str(folder)}, image_size=8, run_dir=str(tmp_path / "runs")))
    assert job["data"]["split"] == "lodo-sketch" and job["data"]["train_domains"] == ["art", "photo"]
    assert job["onnx"]["passed"] and (job.run_dir / "report.html").is_file()


def test_a_disconnected_cell_is_replaced_by_the_most_probable_connected_one():
    from archscout.oneshot import OpCost
    from archscout.pipeline._cells import connected_derivation
    from archscout.spaces import get_space

    sp = get_space("nb201")
    probs = np.full((6, 5), 0.19)
    probs[:, 0] = 0.24  # 'none' most probable on every edge: the argmax cell is disconnected
    probs[3, 3] = 0.23  # conv3x3 a close runner-up on edge 3<-0: the one-edge repair
    alt = connected_derivation(probs)
    assert sp.to_str(alt) == "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    cost = OpCost.fit(device="raspi4").with_target(3.0)  # the cheapest connected cell takes 2.53 ms
    cheap = connected_derivation(probs, cost)
    assert not sp.is_disconnected(cheap) and cost.true_costs()[sp.index(cheap)] <= 3.0
    assert connected_derivation(probs, dataclasses.replace(cost, target=1.0)) is None
    assert connected_derivation(np.ones(3)) is None


def test_nasood_runs_on_smoke_sizes_and_the_default_is_prior_sh(tmp_path):
    job = run_main_job(MainJobConfig(suite="digits-shift", profile="smoke", method="nasood", run_dir=str(tmp_path),
                                     random_baselines=0))
    assert job["method"] == "nasood" and job["meets_budget"] and job["onnx"]["passed"]
    assert job.run_dir.name == "nasood-digits-shift-style-lodo-noise-raspi4-20ms-smoke"
    assert job["search"]["derivation"].startswith(("the method's own", "re-derived"))
    assert MainJobConfig().method == "prior-sh"  # the default (README: the reference table)


def test_a_measured_device_reports_its_prediction_where_a_cell_is_not_measured(tmp_path):
    from archscout.hardware import measure_archs
    from archscout.pipeline import budget_latency

    measure_archs("nb201", list(range(12)), input_shape=(3, 8, 8), backend="torch", root=tmp_path, name="pipecpu",
                  net_cfg=dict(C=4, N=1, num_classes=10), warmup_s=0.01, repeats=3, runs=2)
    measured, predicted = budget_latency("pipecpu_latency", 3)
    assert measured > 0 and not predicted
    estimate, predicted = budget_latency("pipecpu_latency", 5000)  # not measured: the stacked/additive estimate
    assert estimate > 0 and predicted
    from archscout.oneshot import OpCost
    costs = OpCost.fit("nb201", "pipecpu").true_costs()  # what the search enforces: the same values
    assert (costs[3], costs[5000]) == (measured, estimate)
    assert budget_latency("raspi4_latency", 5000)[1] is False


def test_a_one_shot_search_with_frozen_architecture_weights_did_not_learn(tmp_path):
    config = MainJobConfig(**SMOKE, run_dir=str(tmp_path), name="frozen", random_baselines=0,
                           search_overrides={"arch_lr": 1e-12})
    diag = run_main_job(config)["search"]["diagnostics"]
    assert diag["learned"] is False and diag["decided_by"] in ("penalty", "fallback")
    assert diag["entropy_final"] == pytest.approx(diag["entropy_uniform"], abs=1e-6)


def test_diagnostics_tell_a_learned_distribution_from_a_uniform_one():
    from archscout.pipeline import diagnostics

    uniform = np.full((6, 5), 0.2).tolist()
    peaked = {"distribution": uniform, "history": [{"entropy": 1.0}], "derivation": "the method's own"}
    assert diagnostics(peaked) == {"entropy_final": 1.0, "entropy_uniform": pytest.approx(np.log(5)),
                                   "learned": True, "decided_by": "search"}
    flat = {**peaked, "history": [{"entropy": 1.60}]}
    assert diagnostics(flat)["learned"] is False and diagnostics(flat)["decided_by"] == "search"  # no penalty
    assert diagnostics({**flat, "derivation": "re-derived: ..."})["decided_by"] == "fallback"


def test_multi_trial_search_method_trains_archs_within_the_budget(tmp_path):
    config = MainJobConfig(**{**SMOKE, "method": "prior-sh"}, run_dir=str(tmp_path), name="mt", random_baselines=1)
    job = run_main_job(config)
    search = job["search"]
    assert search["diagnostics"]["decided_by"] == "search" and search["diagnostics"]["trials"] == 3
    assert all(t["latency_ms"] <= 20.0 for t in search["trials"]) and job["meets_budget"]
    assert search["trials"][0]["arch_index"] == 2058  # the prior's first: best CIFAR-10 cell within the budget
    best, first = max(search["trials"], key=lambda t: t["signal"]), search["trials"][0]
    lead = best["signal"] - first["signal"]  # chosen by the signal on the training domains, beyond its noise
    assert search["margin_points"] > 0 and first["val_images"] > 0
    assert job["arch"] == (best["arch"] if lead > search["margin_points"] else first["arch"])
    again = run_main_job(config)
    assert again.ran == [] and again["arch"] == job["arch"]


def test_the_prior_s_first_is_kept_unless_beaten_beyond_the_noise():
    from archscout.pipeline._multitrial import _difference_se

    se = _difference_se(80.0, 81.0, 1600)
    assert se == pytest.approx(100 * ((0.8 * 0.2 + 0.81 * 0.19) / 1600) ** 0.5)
    assert 1.3 < se < 1.5  # a one-point lead on 1,600 validation images is within the noise


def test_a_corrupt_file_of_a_finished_stage_is_one_line_and_never_a_fresh_start(job):
    """A truncated stage record or checkpoint names the file and the way out; nothing is redone or overwritten."""
    config = MainJobConfig(**SMOKE, run_dir=str(job.run_dir.parent), name="smoke")
    record, ckpt = job.run_dir / "search" / "result.json", job.run_dir / "search" / "checkpoint.pt"
    train_run = Path(job["baselines"][0]["per_seed"][0]["run_dir"])
    kept = {p: p.read_bytes() for p in (record, ckpt, train_run / "result.json", train_run / "checkpoint.pt")}
    try:
        record.write_text(kept[record].decode()[:50])
        msg = one_line(ArchscoutError, lambda: run_main_job(config), f"cannot read stage record {record}",
                       f"delete {record} (or the run folder) or use another --name")
        assert record.read_text() == kept[record].decode()[:50]
        record.write_text('{"arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}')
        one_line(ArchscoutError, lambda: run_main_job(config), f"{record}: it has no 'seconds'")
        record.unlink()  # an unfinished search stage whose checkpoint was cut short
        ckpt.write_bytes(kept[ckpt][:len(kept[ckpt]) // 3])
        one_line(ArchscoutError, lambda: run_main_job(config), f"cannot read checkpoint {ckpt}: truncated or corrupt",
                 f"delete {ckpt} (or the run folder)")
        assert not record.exists() and len(ckpt.read_bytes()) == len(kept[ckpt]) // 3
        record.write_bytes(kept[record])
        ckpt.write_bytes(kept[ckpt])
        (train_run / "result.json").unlink()  # a training stage the same way
        (train_run / "checkpoint.pt").write_bytes(b"PK\x03\x04")
        one_line(ArchscoutError, lambda: run_main_job(config), f"{train_run / 'checkpoint.pt'}: truncated")
        assert "\n" not in msg
    finally:
        for p, data in kept.items():
            p.write_bytes(data)
    # restored: every stage read back as before (the report is remade when another test registered a device)
    assert [r for r in run_main_job(config).ran if r != "report"] == []


@pytest.mark.parametrize("settings,message", [
    ({"name": "../x"}, "name '../x' is not a run name"), ({"name": ""}, "name '' is not a run name"),
    ({"name": "a/b"}, "name 'a/b' is not a run name"), ({"name": "/abs"}, "name '/abs' is not a run name"),
    ({"run_dir": "FILE"}, "run_dir FILE is not a folder"),
])
def test_names_and_run_dirs_are_checked_by_the_run_kernel(tmp_path, settings, message):
    (tmp_path / "f").write_text("")
    settings = {k: str(tmp_path / "f") if v == "FILE" else v for k, v in settings.items()}
    one_line(ArchscoutError, lambda: MainJobConfig(**{"name": "ok", "run_dir": str(tmp_path), **SMOKE, **settings}),
             message.replace("FILE", str(tmp_path / "f")))
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
