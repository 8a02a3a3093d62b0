"""Degenerate models: one that predicts one class for (nearly) every evaluated image, or whose accuracy
is at chance level, gets a sentence (``TrainResult.degenerate``), so that its figures are not read as
something it learned.

Thresholds (``verdict``), checked on the test domains' images first, then on the training domains'
validation images, all images of a group together:

- constant: one class is predicted for at least ``CONSTANT_SHARE`` (95 %) of the images while that
  class is less than 95 % of their labels (data that is itself one class is not a model's fault);
- chance: the accuracy lies between the uniform guess (100 / classes) and the accuracy of always
  predicting the majority class, widened by ``CHANCE_POINTS`` (2 points) or two binomial standard
  errors of that majority rate on the group's images, whichever is wider (what noise alone moves).

A group whose labels hold a single class says nothing (accuracy there cannot show learning).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from archscout.data import Domain
from archscout.train._loop import predict

CONSTANT_SHARE = 0.95
CHANCE_POINTS = 2.0
GROUPS = ("test", "val")  # the order the verdict checks them in
_IMAGES = {"test": "test-domain images", "val": "validation images of the training domains"}
_ACCURACY = {"test": "out-of-distribution (test-domain) accuracy", "val": "in-distribution (validation) accuracy"}


def _stats(pred: torch.Tensor, y: torch.Tensor, classes: Sequence[str]) -> dict[str, Any]:
    """The predicted-class histogram of one set of images next to its labels' (counts in class order)."""
    pred, y = pred.cpu(), y.cpu()
    counts = torch.bincount(pred, minlength=len(classes)).tolist()
    labels = torch.bincount(y, minlength=len(classes)).tolist()
    n = len(y)
    top = max(range(len(counts)), key=counts.__getitem__)
    major = max(range(len(labels)), key=labels.__getitem__)
    return {"images": n, "accuracy": 100.0 * int((pred == y).sum()) / n, "predicted": counts,
            "top_class": classes[top], "top_count": counts[top], "top_share": counts[top] / n,
            "top_class_label_share": labels[top] / n,
            "classes_predicted": sum(c > 0 for c in counts), "label_classes": sum(c > 0 for c in labels),
            "majority_class": classes[major], "majority_acc": 100.0 * labels[major] / n}


def prediction_stats(model: nn.Module, evals: dict[str, dict[str, Domain]], classes: Sequence[str],
                     batch_size: int, precision: str = "fp32") -> dict[str, Any]:
    """Per group of ``evals`` (``test``, ``val``): the predicted-class histogram over all its images
    (``all``) and per domain, from one forward pass of ``model`` (on the domains' device)."""
    out: dict[str, Any] = {"classes": list(classes), "uniform_acc": 100.0 / len(classes)}
    for group in GROUPS:
        if group not in evals:
            continue
        domains = evals[group]
        preds = {d: predict(model, dom, batch_size, precision) for d, dom in domains.items()}
        out[group] = {"all": _stats(torch.cat(list(preds.values())), torch.cat([dom.y for dom in domains.values()]),
                                    classes),
                      "domains": {d: _stats(preds[d], dom.y, classes) for d, dom in domains.items()}}
    return out


def chance_band(stats: dict[str, Any], uniform_acc: float) -> tuple[float, float]:
    """The accuracies (%) no better than guessing on these images: from the uniform guess to the
    majority-class rate, widened by the larger of 2 points and two binomial standard errors."""
    p = stats["majority_acc"] / 100.0
    band = max(CHANCE_POINTS, 200.0 * math.sqrt(p * (1 - p) / stats["images"]))
    return uniform_acc - band, stats["majority_acc"] + band


def _constant(s: dict[str, Any], group: str, num_classes: int) -> str | None:
    if s["top_share"] < CONSTANT_SHARE or s["top_class_label_share"] >= CONSTANT_SHARE:
        return None
    top, n = s["top_count"], s["images"]
    many = f"all {n}" if top == n else f"{top} of the {n}"
    return (f"predicts class {s['top_class']!r} for {many} {_IMAGES[group]} (a constant classifier; "
            f"accuracy {s['accuracy']:.1f} %)")


def _chance(s: dict[str, Any], group: str, num_classes: int) -> str | None:
    lo, hi = chance_band(s, 100.0 / num_classes)
    if not lo <= s["accuracy"] <= hi:
        return None
    return (f"{_ACCURACY[group]} {s['accuracy']:.1f} % is at chance level ({100.0 / num_classes:.1f} % for "
            f"{num_classes} classes, {s['majority_acc']:.1f} % always predicting the majority class "
            f"{s['majority_class']!r})")


def verdict(stats: dict[str, Any] | None) -> str | None:
    """One sentence when the model is degenerate (a constant classifier, else chance-level accuracy),
    on the first group that shows it (test domains before validation images); None when fine."""
    if not stats:
        return None
    for check in (_constant, _chance):
        for group in GROUPS:
            s = (stats.get(group) or {}).get("all")
            if s is None or s["label_classes"] < 2:
                continue
            sentence = check(s, group, len(stats["classes"]))
            if sentence:
                return sentence
    return None


def summary(flags: Sequence[tuple[Any, str | None]], unit: str = "seed") -> str | None:
    """The flags of several runs (``(seed, sentence or None)``) as one sentence: the run's own with one
    run, else ``"2 of 3 seeds: seed 0: ...; seed 2: ..."``; None when none is flagged."""
    bad = [(k, f) for k, f in flags if f]
    if not bad:
        return None
    if len(flags) == 1:
        return bad[0][1]
    return f"{len(bad)} of {len(flags)} {unit}s: " + "; ".join(f"{unit} {k}: {f}" for k, f in bad)
