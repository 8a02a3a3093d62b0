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


def _learned(path):
    """A learned space file's cells per layer, and their fitness."""
    d = json.loads(path.read_text())
    return [[c["key"] for c in layer] for layer in d["layers"]], [c["fitness"] for layer in d["layers"] for c in layer]


def test_kill_9_then_the_same_command_resumes_to_the_uninterrupted_space(tmp_path):
    import torch

    from helpers import kill_and_resume

    args = [*TINY[:-4], "--iterations", "2", "--per-domain", "40", "--threads", "1", "--accelerator", "cpu", "--json"]
    killed, full = kill_and_resume(args, tmp_path, 2, final="space.json")
    (cells, fitness), (cells_full, fitness_full) = (_learned(d / "space.json") for d in (killed, full))
    assert cells == cells_full and fitness == fitness_full
    hist, hist_full = (torch.load(d / "checkpoint.pt", weights_only=True)["history"]
                       for d in (killed, full))
    assert [h["top"] for h in hist] == [h["top"] for h in hist_full] and len(hist) == 2
    assert [h["sampled"] for h in hist] == [h["sampled"] for h in hist_full]


def test_a_crafted_checkpoint_in_the_run_folder_runs_nothing(capsys, tmp_path):
    import torch

    from helpers import plant_checkpoint

    args = [*TINY, "--run-dir", str(tmp_path), "--name", "s", "--json"]
    assert run(capsys, *args)[0] == 0
    ckpt = tmp_path / "s" / "checkpoint.pt"
    assert torch.load(ckpt, weights_only=True)["history"]  # what we write loads without executing anything
    plant_checkpoint(ckpt, tmp_path / "control")
    torch.load(ckpt, weights_only=False)  # the old load: the crafted file runs its code
    assert (tmp_path / "control").exists()
    plant_checkpoint(ckpt, tmp_path / "pwned")
    code, out, err = run(capsys, *args)  # the same command again
    assert code == 2 and out == "" and err.count("\n") == 1 and not (tmp_path / "pwned").exists()
    assert err.startswith(f"error: cannot read checkpoint {ckpt}: it holds objects other than tensors")
    assert f"delete {ckpt} (or the run folder) or use another --name" in err
    ckpt.write_bytes(b"")  # truncated to nothing
    code, _, err = run(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and f"{ckpt}: truncated or corrupt" in err


@pytest.mark.parametrize("args, text", [
    (["--name", "../../x"], "--name '../../x' is not a run name"),
    (["--name", ""], "--name '' is not a run name"),
    (["--name", "a/b"], "--name 'a/b' is not a run name"),
    (["--name", "ABS"], "is not a run name"),
    (["--base", "nb201", "--name", "../x"], "--name '../x' is not a run name"),
    (["--base", "nb201", "--device", "raspi4", "--max-latency", "0.001"],
     "no arch of the NB201 space fits the limit 0.001 ms on raspi4_latency; the smallest achievable is 0.01128 ms"),
    (["--base", "nb201", "--budget-madds", "100"],
     "no arch of the NB201 space fits the limit 100 MAdds; the smallest achievable is 7,783,040 MAdds"),
    (["--budget-madds", "100"], "below what the reference network needs"),
    (["--budget-madds", "1e309"], "'--budget-madds': '1e309' is not a finite number"),
    (["--budget-madds", "inf"], "'--budget-madds': 'inf' is not a finite number"),
    (["--device", "cpu", "--max-latency", "nan"], "'--max-latency': 'nan' is not a finite number"),
    (["--base", "nb201", "--out", "DIR"], "--out DIR is a folder; give a file name"),
    (["--out", "DIR"], "--out DIR is a folder; give a file name"),
])
def test_evolve_refuses_in_one_line_before_writing_anything(capsys, tmp_path, args, text):
    (tmp_path / "DIR").mkdir()
    args = [str(tmp_path / "abs") if a == "ABS" else str(tmp_path / "DIR") if a == "DIR" else a for a in args]
    code, out, err = run(capsys, *TINY, "--run-dir", str(tmp_path / "runs"), *args)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert text.replace("DIR", str(tmp_path / "DIR")) in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["DIR"] and not list((tmp_path / "DIR").iterdir())


def test_show_draw_to_a_missing_folder_or_an_unknown_format_is_one_line(capsys, tmp_path):
    from archscout.autospace import EvolveConfig, LearnedSpace, evolve
    from archscout.data import load_split

    data = load_split("digits-shift", "correlation", per_domain=40)
    cfg = EvolveConfig(iterations=1, steps_per_iter=2, warmup_steps=1, train_images=64, val_images=64, threads=1)
    path = tmp_path / "space.json"
    evolve(data, cfg).space.save(path)
    assert LearnedSpace.load(path)
    for draw, text in ((tmp_path / "no" / "such" / "x.png", f"folder {tmp_path / 'no' / 'such'} does not exist"),
                       (tmp_path / "x.bmpx", "unknown image format '.bmpx'; end the file name with one of: "),
                       (tmp_path / "x", "unknown image format '(no extension)'"),
                       (tmp_path, "is a folder")):
        code, out, err = run(capsys, "space", "show", str(path), "--draw", str(draw))
        assert code == 2 and out == "" and err.count("\n") == 1 and text in err and str(draw) in err, err
        assert ".png" in err or "folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.json"]
    code, out, err = run(capsys, "space", "show", str(path), "--draw", str(tmp_path / "x.svg"))
    assert code == 0 and (tmp_path / "x.svg").stat().st_size > 1000
