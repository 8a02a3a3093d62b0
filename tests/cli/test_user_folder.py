"""A folder as users have them (227x227 or 33x33, JPEG and PNG, grey among colour, a class spelled
differently, a domain lacking a class, domains of 3 to 10 images) through every command, default options."""

import html
import json

import pytest

from archscout.cli import main
from helpers import make_user_folder


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


SIZES = [227, 33]


@pytest.fixture(scope="module", params=SIZES)
def folder(request, tmp_path_factory):
    return make_user_folder(tmp_path_factory.mktemp(f"size{request.param}") / "mypacs", request.param)


def native_size(folder):
    from PIL import Image

    with Image.open(next(folder.glob("photo/dog/*"))) as im:
        return im.size[0]


def test_data_list_shows_domains_classes_sizes_and_modes(capsys, folder):
    code, out, err = run(capsys, "data", "list", str(folder), "--json")
    assert code == 0, err
    info = json.loads(out)
    doms = {d["name"]: d for d in info["domains"]}
    assert info["classes"] == ["dog", "giraffe", "horse", "person"] and info["mode"] == "RGB"
    assert info["spellings"] == {"dog": {"cartoon": "Dog"}}
    assert doms["cartoon"]["missing_classes"] == ["person"] and doms["sketch"]["images"] == 3
    assert doms["photo"]["modes"] == {"RGB": 8, "L": 2} and doms["sketch"]["modes"] == {"L": 3}
    n = native_size(folder)
    assert n in SIZES and doms["photo"]["sizes"] == {f"{n}x{n}": 10}
    code, out, err = run(capsys, "data", "list", str(folder))
    assert code == 0 and "lacks person" in out and "'Dog' in cartoon" in out and "lodo-sketch" in out


def test_train_with_default_options(capsys, folder, tmp_path):
    code, out, err = run(capsys, "train", "--space", "nb201", "--arch", "11472", "--suite", str(folder),
                         "--split", "lodo-sketch", "--run-dir", str(tmp_path), "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["config"]["data"]["image_size"] == 16 and r["config"]["data"]["image_mode"] == "RGB"
    assert set(r["ood_per_domain"]) == {"sketch"} and r["config"]["data"]["counts"]["sketch"] == 3
    code, out, err = run(capsys, "train", "--space", "nb201", "--arch", "11472", "--suite", str(folder),
                         "--split", "lodo-cartoon", "--image-mode", "L", "--image-size", "12", "--epochs", "1",
                         "--run-dir", str(tmp_path), "--json")
    assert code == 0, err
    assert json.loads(out)["config"]["data"]["image_mode"] == "L"


def test_held_out_class_unseen_in_training_is_named(capsys, folder, tmp_path):
    code, out, err = run(capsys, "train", "--space", "nb201", "--arch", "11472", "--suite", str(folder),
                         "--split", "lodo-photo", "--epochs", "1", "--run-dir", str(tmp_path), "--json")
    assert code == 0, err
    assert "warning: held-out domain 'photo' has class(es) 'person' (2 images) that no training domain has" in err
    r = json.loads(out)
    assert r["config"]["data"]["excluded_unseen_classes"] == {"photo": {"person": 2}}
    assert r["config"]["data"]["counts"]["photo"] == 8


def test_data_shift_with_default_options(capsys, folder):
    code, out, err = run(capsys, "data", "shift", "--suite", str(folder), "--split", "lodo-sketch", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert 0 <= r["diversity"]["mean"] <= 1 and r["config"]["batch_size"] == 32
    assert "3 images per side" in r["caveat"] and "warning: 3 images per side" in err
    assert r["per_trial"][0]["per_side"] == 3


def test_main_job_smoke_with_default_options(capsys, tmp_path_factory):
    folder = make_user_folder(tmp_path_factory.mktemp("job") / "mypacs", 227)
    run_dir = tmp_path_factory.mktemp("runs")
    code, out, err = run(capsys, "search", "--suite", str(folder), "--profile", "smoke", "--run-dir", str(run_dir),
                         "--json")
    assert code == 0, err
    r = json.loads(out)
    result = json.loads((run_dir / r["name"] / "result.json").read_text())
    assert result["data"]["test_domains"] == ["sketch"] and r["ood_acc"] is not None
    assert result["data"]["image_size"] == 16 and result["data"]["image_mode"] == "RGB"
    assert result["data"]["excluded_unseen_classes"] is None
    # a smoke run's models are near chance on 3 held-out images: flagged, in result.json and the report
    assert "degenerate" in result and all("degenerate" in b for b in result["baselines"])
    flagged = [m["degenerate"] for m in (result, *result["baselines"]) if m["degenerate"]]
    report = html.unescape((run_dir / r["name"] / "report.html").read_text())
    assert all(f.split(":")[0] in report for f in flagged) and (not flagged or "Degenerate models" in report)


def test_every_command_that_reads_folders_has_image_mode(capsys):
    from archscout.cli._app import IMAGE_MODES
    from archscout.data import MODES

    assert IMAGE_MODES == tuple(MODES)
    for cmd in (["train"], ["search"], ["oneshot"], ["space", "evolve"], ["data", "shift"]):
        code, out, _ = run(capsys, *cmd, "--help")
        assert code == 0 and "--image-mode" in out and "L|RGB|RGBA" in out, cmd
