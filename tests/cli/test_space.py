"""``archscout space`` through the CLI: evolve (fbnet-small and nb201), resume, show, one-line errors."""

import json

import pytest

import archscout.cli._space  # noqa: F401  (registers the command group)
from archscout.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


TINY = ["space", "evolve", "--suite", "digits-shift", "--split", "correlation", "--profile", "ci", "--iterations", "1",
        "--per-domain", "40"]


def test_evolve_fbnet_small_show_and_resume(capsys, tmp_path):
    out_file = tmp_path / "learned.json"
    code, out, err = run(capsys, *TINY, "--budget-madds", "600000", "--run-dir", str(tmp_path), "--out",
                         str(out_file), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert len(obj["layers"]) == 4 and all(len(layer) == 2 for layer in obj["layers"])
    assert out_file.exists() and obj["info"]["budget_madds"] == 600000
    code, again, err = run(capsys, *TINY, "--budget-madds", "600000", "--run-dir", str(tmp_path), "--json")
    assert code == 0 and json.loads(again)["layers"] == obj["layers"]  # resumed: nothing left to do
    png = tmp_path / "space.png"
    code, out, err = run(capsys, "space", "show", str(out_file), "--draw", str(png))
    assert code == 0, err
    assert "layer 3" in out and "kMAdds" in out and png.stat().st_size > 1000


def test_evolve_nb201_with_a_latency_limit(capsys, tmp_path):
    code, out, err = run(capsys, "space", "evolve", "--base", "nb201", "--device", "raspi4", "--max-latency", "20",
                         "--iterations", "5", "--run-dir", str(tmp_path), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert len(obj["edges"]) == 6 and obj["max_latency"] == 20
    code, out, err = run(capsys, "space", "show", obj["file"])
    assert code == 0 and "learned NB201 space" in out


@pytest.mark.parametrize("args, text", [
    (["space", "evolve", "--base", "darts"], "unknown base space 'darts'"),
    (["space", "evolve", "--profile", "huge"], "unknown profile 'huge'"),
    (["space", "evolve", "--device", "cpu"], "go together"),
    (["space", "evolve", "--budget-madds", "5e5", "--device", "cpu", "--max-latency", "2"], "not both"),
    (["space", "evolve", "--budget-madds", "-3"], "positive"),
    ([*TINY, "--budget-madds", "1000"], "below what the reference"),
    ([*TINY, "--device", "raspi4", "--max-latency", "3"], "only this machine's CPU"),
    (["space", "evolve", "--suite", "cifar", "--profile", "ci"], "unknown suite 'cifar'"),
    (["space", "evolve", "--base", "nb201", "--device", "toaster", "--max-latency", "3"], "unknown device"),
    (["space", "show", "/nonexistent/space.json"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, text):
    code, out, err = run(capsys, *args, "--run-dir", str(tmp_path)) if args[1] == "evolve" else run(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and text in err, err


def test_show_rejects_other_json(capsys, tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"a": 1}')
    code, _, err = run(capsys, "space", "show", str(p))
    assert code == 2 and "not a learned space file" in err
