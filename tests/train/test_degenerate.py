"""Degenerate models are flagged: a constant classifier or chance-level accuracy gets a sentence in the
result (and result.json, and ``archscout train``'s output); a model that learned the task gets none."""

import json

import pytest
import torch
from torch import nn

from archscout.data import Domain, DomainData, load_split
from archscout.train import TrainConfig, train
from archscout.train._degenerate import CONSTANT_SHARE, chance_band, prediction_stats, summary, verdict

CLASSES = ("cat", "dog", "owl", "fox")
TINY = TrainConfig(epochs=2, batch_size=32, net={"C": 4, "N": 1}, threads=1)


def _domain(name, labels, shown=None):
    """Images whose every pixel is ``shown / 3`` (the class the planted reader sees), labelled ``labels``."""
    y = torch.tensor(labels)
    shown = y if shown is None else torch.tensor(shown)
    return Domain(name, (shown.float() / 3).view(-1, 1, 1, 1).expand(-1, 3, 4, 4).contiguous(), y)


class Reader(nn.Module):
    """Predicts the class a planted image shows (its pixel value times 3)."""

    def forward(self, x):
        return -(x.mean((1, 2, 3))[:, None] * 3 - torch.arange(4.0)[None]) ** 2


class Fixed(nn.Module):
    """The same logits for every image: always class ``c``."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.full((len(x),), self.c), 4).float()


BALANCED = [i % 4 for i in range(40)]


def _flag(model, test, val=None):
    stats = prediction_stats(model, {"test": {"t": test}, "val": {"v": val or test}}, CLASSES, 16)
    return verdict(stats), stats


def test_a_constant_classifier_is_flagged_with_its_class():
    why, stats = _flag(Fixed(1), _domain("t", BALANCED))
    assert why == "predicts class 'dog' for all 40 test-domain images (a constant classifier; accuracy 25.0 %)"
    s = stats["test"]["all"]
    assert s["predicted"] == [0, 40, 0, 0] and s["top_share"] == 1.0 and s["classes_predicted"] == 1
    assert stats["test"]["domains"]["t"] == s and stats["uniform_acc"] == 25.0


def test_a_model_that_learned_the_task_is_not_flagged():
    why, stats = _flag(Reader(), _domain("t", BALANCED))
    assert why is None and stats["test"]["all"]["accuracy"] == 100.0 and stats["val"]["all"]["classes_predicted"] == 4


def test_chance_accuracy_is_flagged_but_systematic_errors_are_not():
    labels = [i % 4 for i in range(48)]
    shifted = [(c + i // 4) % 4 for i, c in enumerate(labels)]  # right on a quarter of the images, spread
    why, stats = _flag(Reader(), _domain("t", labels, shifted))
    assert stats["test"]["all"]["accuracy"] == 25.0 and stats["test"]["all"]["classes_predicted"] == 4
    assert why.startswith("out-of-distribution (test-domain) accuracy 25.0 % is at chance level (25.0 % for 4 "
                          "classes, 25.0 % always predicting the majority class")
    wrong = [(c + 1) % 4 for c in BALANCED]  # always wrong: it learned something (a shift), not nothing
    assert _flag(Reader(), _domain("t", BALANCED, wrong))[0] is None


def test_the_constant_check_comes_first_and_reads_the_validation_images_too():
    test = _domain("t", BALANCED)
    almost = [0] * 39 + [1]  # one class for 39 of 40 images: nearly constant
    why, _ = _flag(Reader(), test, _domain("v", BALANCED, almost))
    assert 39 / 40 >= CONSTANT_SHARE
    assert why == ("predicts class 'cat' for 39 of the 40 validation images of the training domains (a constant "
                   "classifier; accuracy 25.0 %)")


def test_data_of_one_class_is_not_the_model_s_fault():
    assert _flag(Fixed(2), _domain("t", [2] * 40))[0] is None  # labels of one class: accuracy shows nothing
    mostly = [0] * 390 + [1] * 10  # 97.5 % one class: always predicting it is chance level, not a finding
    why, stats = _flag(Fixed(0), _domain("t", mostly))
    assert why.startswith("out-of-distribution (test-domain) accuracy 97.5 % is at chance level")
    lo, hi = chance_band(stats["test"]["all"], 25.0)
    assert lo < 25.0 and hi == pytest.approx(97.5 + 2.0)  # the 2-point floor: the binomial error is smaller


def test_several_runs_are_summarised():
    assert summary([(0, None), (1, None)]) is None
    assert summary([(0, "x")]) == "x"
    assert summary([(0, "x"), (1, None), (2, "y")]) == "2 of 3 seeds: seed 0: x; seed 2: y"
    assert summary([(7, "z"), (9, None)], "cell") == "1 of 2 cells: cell 7: z"


@pytest.fixture(scope="module")
def one_label():
    """digits-shift whose training domains are all labelled '3': what a model learns is a constant."""
    data = load_split("digits-shift", "correlation")
    domains = {n: Domain(n, d.x, torch.full_like(d.y, 3)) if n in data.split.train else d
               for n, d in data.domains.items()}
    return DomainData(data.name, data.classes, domains, data.split, data.meta)


def test_train_flags_a_constant_model_in_result_json_and_on_resume(one_label, tmp_path):
    r = train("nb201", 11472, one_label, TINY, run_dir=tmp_path)
    assert r.degenerate.startswith("predicts class '3' for ") and "test-domain images (a constant" in r.degenerate
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["degenerate"] == r.degenerate and saved["prediction_stats"]["test"]["all"]["top_class"] == "3"
    assert saved["prediction_stats"]["val"]["all"]["label_classes"] == 1  # the validation images: one class
    (tmp_path / "result.json").unlink()
    again = train("nb201", 11472, one_label, TINY, run_dir=tmp_path)  # a finished run re-read: same flag
    assert again.epochs_trained == 2 and again.degenerate == r.degenerate
    assert json.loads((tmp_path / "result.json").read_text())["degenerate"] == r.degenerate


def test_a_search_s_evaluation_never_reads_the_test_domains(one_label):
    r = train("nb201", 11472, one_label, TrainConfig(**{**TINY.to_dict(), "epochs": 1}), heldout=False)
    assert set(r.prediction_stats) == {"classes", "uniform_acc", "val"} and r.ood_acc is None


def test_archscout_train_prints_a_warning(one_label, capsys):
    from archscout.cli._train import _print

    r = train("nb201", 11472, one_label, TrainConfig(**{**TINY.to_dict(), "epochs": 1}), run_dir=None)
    r.run_dir, r.model_path = "runs/x", "runs/x/model.pt"
    _print(r)
    out = capsys.readouterr().out
    assert "warning: the model is degenerate: predicts class '3'" in " ".join(out.split())


def test_train_seeds_says_which_seeds_are_degenerate(one_label):
    from archscout.train import train_seeds

    out = train_seeds("nb201", 11472, one_label, TrainConfig(**{**TINY.to_dict(), "epochs": 1}), seeds=[0, 1])
    flags = [(r.seed, r.degenerate) for r in out["runs"]]
    assert all(f and "predicts class '3'" in f for _, f in flags)
    assert out["degenerate"] == f"2 of 2 seeds: seed 0: {flags[0][1]}; seed 1: {flags[1][1]}"
