"""report.html of a main-job run: self-contained (PNG figures embedded), the split named on every
figure, the numbers in a table, the selection rule labelled."""

import base64
import re

import pytest

from archscout.report import plot_accuracy, plot_cells, plot_curves, plot_latency, write_report
from archscout.report._plots import parse_nb201

ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
LAT = {"edgegpu_latency": 4.7, "raspi4_latency": 34.96, "edgetpu_latency": None, "pixel3_latency": 14.7}


def _entry(name, arch, ood):
    return {"name": name, "arch": arch, "arch_index": 11472, "latency_ms": LAT["raspi4_latency"], "latency_all": LAT,
            "id_acc": 80.0, "ood_acc": ood, "id_acc_std": 0.5, "ood_acc_std": 1.0, "params": 170522,
            "selected_epoch": 2, "found_by": "fixed",
            "curve": [{"epoch": e, "train_acc": 60 + e, "id_acc": 70 + e, "ood_acc": 50 + e, "loss": 1.0 / e}
                      for e in (1, 2, 3)]}


@pytest.fixture
def result():
    main = _entry("nasood (searched, budget)", "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|"
                  "avg_pool_3x3~2|", 65.0)
    main["latency_ms"], main["latency_all"] = 3.2, {**LAT, "raspi4_latency": 3.2}
    keys = ("arch", "arch_index", "latency_ms", "latency_all", "id_acc", "ood_acc", "id_acc_std", "ood_acc_std",
            "params", "curve", "selected_epoch")
    return {**{k: main[k] for k in keys},
            "name": "demo", "name_of_arch": main["name"], "space": "nb201", "method": "nasood", "profile": "cpu",
            "device": "raspi4", "latency_metric": "raspi4_latency", "max_latency_ms": 20.0, "meets_budget": True,
            "selection_rule": "training-domain validation", "seeds": [0, 1],
            "baselines": [_entry("ERM ResNet-like cell 11472", ARCH, 60.0), _entry("darts (no budget)", ARCH, 58.0)],
            "search": {"seconds": 12.0, "cost_term": "raspi4_latency target 20 ms"},
            "onnx": {"passed": True, "max_abs_diff": 1e-6, "tolerance": 1e-4, "images": 256, "data": "held-out",
                     "argmax_agreement": 1.0},
            "data": {"suite": "fmnist-shift-v1", "split": "style-lodo-stripes", "train_domains": ["clean", "noise"],
                     "test_domains": ["stripes"], "per_domain": 2000, "image_size": 16},
            "train_config": {"epochs": 3}, "versions": {"torch": "2.13.0"}}


def test_report_is_self_contained_with_the_figures_and_the_split(result, tmp_path):
    path = write_report(result, tmp_path / "report.html", tmp_path / "figures")
    text = path.read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) == 5 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert not re.search(r"(src|href)=['\"](?!data:)", text)  # nothing external
    assert "<script" not in text
    assert text.count("style-lodo-stripes") >= 4 and "training-domain validation" in text
    for name in ("ERM ResNet-like cell 11472", "darts (no budget)", "nasood (searched, budget)", "170,522",
                 "65.00 ± 1.00"):
        assert name in text
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["accuracy.png", "cells.png", "curves.png",
                                                                         "latency.png", "search.png"]


def _texts(fig):
    out = [fig.get_suptitle()] if hasattr(fig, "get_suptitle") else []
    if getattr(fig, "_suptitle", None) is not None:
        out.append(fig._suptitle.get_text())
    return " ".join(out + [ax.get_title() for ax in fig.axes])


@pytest.mark.parametrize("plot", [plot_accuracy, plot_curves, plot_cells])
def test_every_data_figure_names_its_split(result, plot):
    assert "style-lodo-stripes" in _texts(plot(result))


def test_latency_figure_names_its_table_and_marks_the_budget(result):
    fig = plot_latency(result)
    assert "HW-NAS-Bench" in _texts(fig)
    ax = fig.axes[0]
    assert any(list(line.get_xdata()) == [20.0, 20.0] for line in ax.get_lines())  # the budget bar
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["edgegpu", "raspi4", "edgetpu", "pixel3"]


def test_cell_labels_follow_nb201_edge_order():
    assert parse_nb201(ARCH) == ["nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "skip_connect"]


def test_report_says_when_a_search_did_not_learn(result):
    from archscout.report import render_html

    flat = {**result, "search": {**result.get("search", {}), "diagnostics": {
        "entropy_final": 1.598, "entropy_uniform": 1.609, "learned": False, "decided_by": "penalty"}}}
    text = render_html(flat, {})
    assert "The search did not learn" in text and "latency penalty" in text and "1.598" in text
    learned = {**flat, "search": {**flat["search"], "diagnostics": {**flat["search"]["diagnostics"],
                                                                   "entropy_final": 0.9, "learned": True}}}
    assert "did not learn" not in render_html(learned, {})


def test_report_names_degenerate_models_and_says_nothing_when_all_are_fine(result):
    from archscout.report import render_html

    assert "degenerate" not in render_html(result, {}).split("<body>")[1].lower()
    why = "predicts class 'dog' for all 60 test-domain images (a constant classifier; accuracy 25.0 %)"
    flagged = {**result, "baselines": [{**result["baselines"][0], "degenerate": why}, result["baselines"][1]]}
    text = render_html(flagged, {})
    note = text[text.index("<b>Degenerate models:</b>"):text.index("<h2>Numbers</h2>")]  # the summary, above
    assert "ERM ResNet-like cell 11472</b>: predicts class &#x27;dog&#x27; for all 60 test-domain images" in note
    assert "darts (no budget)" not in note and "nasood" not in note
    table = text[text.index("<h2>Numbers</h2>"):]
    row = table[table.index("ERM ResNet-like cell 11472"):table.index("darts (no budget)")]
    assert "degenerate: predicts class &#x27;dog&#x27;" in row and row.count("degenerate") == 1
    searched = render_html({**result, "degenerate": "2 of 2 seeds: ..."}, {})
    assert "nasood (searched, budget)</b>: 2 of 2 seeds: ..." in searched
