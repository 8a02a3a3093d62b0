"""ERM training on digits-shift with tiny nets: determinism, exact resume, the test domain kept out of
model selection, model.pt round trip, leave-one-domain-out, one-line errors."""

import json

import pytest
import torch

from archscout.data import Domain, DomainData, load_split
from archscout.exceptions import ArchscoutError, InvalidArchError, UnknownNameError
from archscout.train import TrainConfig, load_model, train, train_seeds
from helpers import one_line

TINY = TrainConfig(epochs=3, batch_size=32, net={"C": 4, "N": 1}, threads=1)
ARCH = 11472  # NB201's ResNet-like cell


class Killed(Exception):
    pass


def _kill(record, epoch):
    if record["epoch"] == epoch:
        raise Killed


@pytest.fixture(scope="module")
def data():
    return load_split("digits-shift", "correlation")


def weights_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def strip_times(history):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in history]


def test_result_figures(data):
    r = train("nb201", ARCH, data, TINY)
    assert r.selection_rule == "training-domain validation" and 1 <= r.selected_epoch <= 3
    assert set(r.id_per_domain) == {"color90", "color80"} and set(r.ood_per_domain) == {"color10"}
    rec = r.history[r.selected_epoch - 1]
    assert r.id_acc == pytest.approx(sum(rec["val"].values()) / 2) and r.ood_acc == rec["test"]["color10"]
    assert r.params == sum(p.numel() for p in r.model.net.parameters()) and r.throughput > 0
    assert r.arch_index == ARCH and r.suite == "digits-shift-v1" and r.split == "correlation"
    sizes = {r_["images"] for r_ in r.history}  # whole batches of the ~160 training images (80 % of 2 x 100)
    assert len(sizes) == 1 and 160 - 2 * TINY.batch_size < sizes.pop() <= 160
    json.dumps(r.to_dict())


def test_same_seed_same_run_other_seed_other_run(data):
    a, b = train("nb201", ARCH, data, TINY), train("nb201", ARCH, data, TINY)
    assert strip_times(a.history) == strip_times(b.history)
    assert weights_equal(a.model.state_dict(), b.model.state_dict())
    c = train("nb201", ARCH, data, TrainConfig(**{**TINY.to_dict(), "seed": 1}))
    assert strip_times(a.history) != strip_times(c.history)


def test_resume_after_a_kill_equals_an_uninterrupted_run(data, tmp_path):
    full = train("nb201", ARCH, data, TINY, run_dir=tmp_path / "full")
    with pytest.raises(Killed):
        train("nb201", ARCH, data, TINY, run_dir=tmp_path / "killed", on_epoch=lambda r: _kill(r, 1))
    assert torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not (tmp_path / "killed" / "model.pt").exists()
    seen = []
    resumed = train("nb201", ARCH, data, TINY, run_dir=tmp_path / "killed", on_epoch=lambda r: seen.append(r["epoch"]))
    assert seen == [2, 3]  # epoch 1 came from the checkpoint
    assert strip_times(resumed.history) == strip_times(full.history)
    assert resumed.selected_epoch == full.selected_epoch and resumed.id_acc == full.id_acc
    assert weights_equal(torch.load(tmp_path / "killed" / "model.pt", weights_only=True)["state_dict"],
                         torch.load(tmp_path / "full" / "model.pt", weights_only=True)["state_dict"])
    last = lambda d: torch.load(tmp_path / d / "weights" / "epoch-003.pt", weights_only=True)  # noqa: E731
    assert weights_equal(last("killed"), last("full"))
    again = train("nb201", ARCH, data, TINY, run_dir=tmp_path / "full", on_epoch=lambda r: seen.append(r))
    assert seen == [2, 3] and again.history == full.history  # a finished run is re-read, not retrained


def test_a_resumed_run_s_progress_bar_starts_where_it_stopped(data, tmp_path, monkeypatch):
    from contextlib import contextmanager

    import archscout.train._api as api

    bars = []

    @contextmanager
    def bar(label, total, show=True, done=0):
        bars.append({"total": total, "done": done, "ticks": 0})
        yield lambda: bars[-1].__setitem__("ticks", bars[-1]["ticks"] + 1)

    monkeypatch.setattr(api, "progress_bar", bar)
    with pytest.raises(Killed):
        train("nb201", ARCH, data, TINY, run_dir=tmp_path, selection="leave-one-domain-out", on_epoch=lambda r: _kill(r, 2))
    train("nb201", ARCH, data, TINY, run_dir=tmp_path, selection="leave-one-domain-out", progress=True)
    first, resumed = bars
    assert first["done"] == 0 and resumed["total"] == first["total"]
    assert resumed["done"] == first["ticks"] > 0 and resumed["done"] + resumed["ticks"] == resumed["total"]
    (sorted((tmp_path / "lodo").iterdir())[0] / "checkpoint.pt").unlink()  # one held-out run to redo
    train("nb201", ARCH, data, TINY, run_dir=tmp_path, selection="leave-one-domain-out", progress=True)
    redo = bars[2]  # the main run and the other held-out runs count as done
    assert 0 < redo["ticks"] < redo["total"] and redo["done"] + redo["ticks"] == redo["total"]


def test_resume_with_another_config_is_refused(data, tmp_path):
    cfg = TrainConfig(**{**TINY.to_dict(), "epochs": 1})
    train("nb201", ARCH, data, cfg, run_dir=tmp_path)
    other = TrainConfig(**{**cfg.to_dict(), "lr": 0.01, "net": {"C": 8, "N": 1}, "threads": 2})
    msg = one_line(ArchscoutError, lambda: train("nb201", ARCH, data, other, run_dir=tmp_path),
                   "another config", "net.C", "train.lr")
    assert "threads" not in msg  # threads may change between a run and its resume
    with pytest.raises(ArchscoutError, match="arch"):
        train("nb201", 1462, data, cfg, run_dir=tmp_path)


def test_the_default_rule_never_reads_the_test_domain(data):
    """Replace the test domain by noise with shuffled labels: selection, id_acc and weights stay put."""
    test = data.domains["color10"]
    g = torch.Generator().manual_seed(0)
    junk = Domain("color10", torch.rand(test.x.shape, generator=g), test.y[torch.randperm(len(test.y), generator=g)])
    corrupted = DomainData(data.name, data.classes, {**data.domains, "color10": junk}, data.split, data.meta)
    cfg = TrainConfig(**{**TINY.to_dict(), "epochs": 4})
    a, b = train("nb201", ARCH, data, cfg), train("nb201", ARCH, corrupted, cfg)
    assert [r["test"] for r in a.history] != [r["test"] for r in b.history]  # the test figures did change
    assert a.selected_epoch == b.selected_epoch and a.id_acc == b.id_acc and a.id_per_domain == b.id_per_domain
    assert weights_equal(a.model.state_dict(), b.model.state_dict())


def test_oracle_is_labelled_in_every_output(data, tmp_path):
    r = train("nb201", ARCH, data, TINY, selection="oracle", run_dir=tmp_path)
    assert r.selection_rule == "oracle (test-domain)"
    assert json.loads((tmp_path / "result.json").read_text())["selection_rule"] == "oracle (test-domain)"
    assert load_model(tmp_path / "model.pt").info["selection_rule"] == "oracle (test-domain)"
    best = max(range(3), key=lambda i: (r.history[i]["test_out"]["color10"], -i)) + 1
    assert r.selected_epoch == best


def test_leave_one_domain_out_runs_one_extra_run_per_training_domain(data, tmp_path):
    cfg = TrainConfig(**{**TINY.to_dict(), "epochs": 2})
    r = train("nb201", ARCH, data, cfg, selection="leave-one-domain-out", run_dir=tmp_path)
    assert set(r.lodo) == {"color90", "color80"} and all(len(h) == 2 for h in r.lodo.values())
    assert all(set(h[0]["val"]) == {d} for d, h in r.lodo.items())  # each validated on its held-out domain
    assert (tmp_path / "lodo" / "color90" / "checkpoint.pt").exists()
    means = [(r.lodo["color90"][e]["val"]["color90"] + r.lodo["color80"][e]["val"]["color80"]) / 2 for e in range(2)]
    assert r.selected_epoch == max(range(2), key=lambda e: (means[e], -e)) + 1
    main = train("nb201", ARCH, data, cfg)  # the reported model is the main run at that epoch
    assert r.id_acc == pytest.approx(sum(main.history[r.selected_epoch - 1]["val"].values()) / 2)
    with pytest.raises(ArchscoutError, match="two or more training domains"):
        train("nb201", ARCH, load_split("digits-shift", "iid"), cfg, selection="leave-one-domain-out")


def test_model_file_round_trip(data, tmp_path):
    r = train("nb201", ARCH, data, TINY, run_dir=tmp_path)
    model = load_model(tmp_path / "model.pt")
    x = data.domains["color10"].x
    with torch.inference_mode():
        assert torch.equal(model(x), r.model(x))
        acc = 100.0 * float((model(x).argmax(1) == data.domains["color10"].y).float().mean())
    assert acc == pytest.approx(r.ood_acc)
    info = model.info
    assert info["arch"] == r.arch and info["space"] == "nb201" and info["classes"] == list(data.classes)
    assert info["selected_epoch"] == r.selected_epoch and len(info["mean"]) == 3
    assert json.loads((tmp_path / "result.json").read_text())["id_acc"] == r.id_acc


def test_load_model_errors(tmp_path):
    with pytest.raises(ArchscoutError, match="no model file"):
        load_model(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ArchscoutError, match="not a readable model file"):
        load_model(tmp_path / "junk.pt")
    torch.save({"a": 1}, tmp_path / "other.pt")
    with pytest.raises(ArchscoutError, match="not an archscout model file"):
        load_model(tmp_path / "other.pt")


def test_train_seeds_reports_mean_and_spread(data):
    out = train_seeds("nb201", ARCH, data, TrainConfig(**{**TINY.to_dict(), "epochs": 1}), seeds=[0, 1])
    accs = [r.ood_acc for r in out["runs"]]
    assert out["seeds"] == [0, 1] and out["ood_acc"]["mean"] == pytest.approx(sum(accs) / 2)
    assert out["ood_acc"]["std"] == pytest.approx(abs(accs[0] - accs[1]) / 2 ** 0.5)


def test_darts_space_trains(data):
    from archscout.spaces import get_space

    arch = get_space("darts").sample(0)
    r = train("darts", arch, data, TrainConfig(epochs=1, batch_size=32, net={"C": 4, "layers": 2}))
    assert r.arch_index is None and r.params > 0


@pytest.mark.parametrize("call, error, text", [
    (lambda d: train("nb999", ARCH, d, TINY), UnknownNameError, "unknown space 'nb999'"),
    (lambda d: train("nb201", 99999, d, TINY), InvalidArchError, "out of range"),
    (lambda d: train("nb201", "|bad~0|", d, TINY), InvalidArchError, "nb201"),
    (lambda d: train("nb201", ARCH, d, TINY, selection="test"), UnknownNameError, "unknown selection rule"),
    (lambda d: train("nb201", ARCH, d, TrainConfig(net={"width": 3})), ArchscoutError, "bad network settings"),
    (lambda d: load_split("no-suite", "correlation"), UnknownNameError, "unknown suite"),
    (lambda d: load_split("digits-shift", "sideways"), UnknownNameError, "unknown split"),
    (lambda d: TrainConfig(epochs=0), ArchscoutError, "epochs 0"),
    (lambda d: TrainConfig(schedule="step"), ArchscoutError, "unknown schedule"),
    (lambda d: TrainConfig(holdout_fraction=1.0), ArchscoutError, "holdout_fraction"),
])
def test_bad_input_is_a_one_line_error(data, call, error, text):
    one_line(error, lambda: call(data), text)


def test_accelerator_cpu_is_today_s_run_and_model_data_share_a_device(data, monkeypatch):
    import archscout.train._api as api

    seen = []
    real_fit = api.fit

    def spy(model, run_data, config, **kw):
        devices = {p.device for p in model.parameters()} | {run_data.x.device, run_data.y.device}
        devices |= {d.x.device for group in run_data.evals.values() for d in group.values()}
        seen.append(devices)
        return real_fit(model, run_data, config, **kw)

    monkeypatch.setattr(api, "fit", spy)
    a = train("nb201", ARCH, data, TINY)
    b = train("nb201", ARCH, data, TrainConfig(**{**TINY.to_dict(), "accelerator": "cpu"}))
    assert seen == [{torch.device("cpu")}] * 2
    assert strip_times(a.history) == strip_times(b.history)
    assert weights_equal(a.model.state_dict(), b.model.state_dict())
    assert b.compute["accelerator"] == "cpu" and b.compute["precision"] == "fp32"


def test_accelerator_and_precision_are_not_a_run_s_identity(data, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Killed):
        train("nb201", ARCH, data, TINY, run_dir=run, on_epoch=lambda r: _kill(r, 2))
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in ckpt["model"].values())
    r = train("nb201", ARCH, data, TrainConfig(**{**TINY.to_dict(), "accelerator": "auto", "precision": "bf16"}),
              run_dir=run)  # resumes: another accelerator and precision are the same run
    assert r.epochs_trained == 3 and r.compute["precision"] == "bf16"


def test_mixed_precision_trains_on_the_cpu(data):
    r = train("nb201", ARCH, data, TrainConfig(**{**TINY.to_dict(), "epochs": 1, "precision": "bf16"}))
    assert r.epochs_trained == 1 and 0 <= r.id_acc <= 100 and next(r.model.parameters()).dtype == torch.float32


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_absent_accelerator_is_one_line(data):
    one_line(ArchscoutError, lambda: train("nb201", ARCH, data, TrainConfig(**{**TINY.to_dict(),
                                                                              "accelerator": "cuda"})),
             "'cuda'", "not available")
