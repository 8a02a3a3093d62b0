"""Folder datasets in DomainBed's layout (root/<domain>/<class>/<image>), on tiny images made here."""

from pathlib import Path

import pytest
import torch
from PIL import Image, features

from archscout.data import DatasetError
from archscout.data._domains import DatasetWarning
from archscout.data._folder import IMAGE_EXTENSIONS, known_dataset, load_folder, scan_folder
from archscout.data._load import load_split
from archscout.exceptions import UnknownNameError
from helpers import one_line

DOMAINS, CLASSES = ("b_dom", "a_dom", "c_dom"), ("dog", "cat", "bird")  # made unsorted on purpose


def grey_value(d: int, c: int, i: int) -> int:
    """Each image's pixel value says where it came from, so tests can check its label."""
    return 60 * c + 10 * d + i


def make(root: Path, domains=DOMAINS, classes=CLASSES, n=3, size=(8, 8), mode="RGB", ext="png") -> Path:
    for d, dom in enumerate(domains):
        for c, cls in enumerate(classes):
            folder = root / dom / cls
            folder.mkdir(parents=True)
            for i in range(n):
                v = grey_value(d, c, i)
                colour = v if mode == "L" else (v, 255 - v, 7)[: len(mode)] + (255,) * (len(mode) - 3)
                Image.new(mode, size, colour).save(folder / f"{i}.{ext}")
    return root


def test_scan_layout_and_lodo_splits(tmp_path):
    ds = scan_folder(make(tmp_path / "mine"))
    assert ds.name == "mine" and not ds.known
    assert ds.domains == ("a_dom", "b_dom", "c_dom") and ds.classes == ("bird", "cat", "dog")
    assert all(len(ds.files[d]) == 9 for d in ds.domains)
    assert set(ds.splits) == {"lodo-a_dom", "lodo-b_dom", "lodo-c_dom"}
    sp = ds.splits["lodo-b_dom"]
    assert sp.train == ("a_dom", "c_dom") and sp.test == ("b_dom",)
    data = ds.load("lodo-b_dom")
    assert [d.name for d in data.train] == ["a_dom", "c_dom"] and [d.name for d in data.test] == ["b_dom"]
    x = data.domain("a_dom").x  # resized to 16 x 16 by default
    assert x.shape == (9, 3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert data.num_classes == 3 and data.image_shape == (3, 16, 16) and data.meta["image_size"] == 16
    assert ds.load("lodo-b_dom", size=8).image_shape == (3, 8, 8)
    assert data.meta["counts"] == {"a_dom": 9, "c_dom": 9, "b_dom": 9} and data.meta["image_mode"] == "RGB"
    assert data.meta["root"] == str(tmp_path / "mine") and data.meta["split"] == "lodo-b_dom"


def test_class_index_is_the_same_in_every_domain(tmp_path):
    root = make(tmp_path / "ds")
    (root / "b_dom" / "zebra").mkdir()  # one domain with an extra class: the others lack it
    Image.new("RGB", (8, 8), (250, 5, 7)).save(root / "b_dom" / "zebra" / "z.png")
    ds = scan_folder(root)
    assert ds.classes == ("bird", "cat", "dog", "zebra")
    assert ds.counts("a_dom")["zebra"] == 0 and ds.counts("b_dom")["zebra"] == 1
    data = ds.load(train=["b_dom", "c_dom"], test="a_dom", size=8)
    for d, dom in enumerate(DOMAINS):
        got = data.domain(dom)
        red = (got.x[:, 0, 0, 0] * 255).round().long()
        for v, y in zip(red.tolist(), got.y.tolist()):
            if v == 250:
                assert ds.classes[y] == "zebra"
            else:
                assert ds.classes[y] == CLASSES[(v - 10 * d) // 60]
    assert (data.domain("b_dom").y == ds.classes.index("zebra")).sum() == 1


def test_held_out_class_unseen_in_training_is_named_and_left_out(tmp_path):
    root = make(tmp_path / "ds")
    (root / "b_dom" / "zebra").mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (250, 5, 7)).save(root / "b_dom" / "zebra" / f"z{i}.png")
    ds = scan_folder(root)
    with pytest.warns(DatasetWarning, match=r"'b_dom'.*'zebra' \(2 images\).*no training domain") as caught:
        data = ds.load("lodo-b_dom")
    assert len(caught) == 1
    assert len(data.domain("b_dom")) == 9 and ds.classes.index("zebra") not in data.domain("b_dom").y.tolist()
    assert data.meta["excluded_unseen_classes"] == {"b_dom": {"zebra": 2}}
    only = make(tmp_path / "only", domains=("a", "b"), classes=("x",), n=1)
    (only / "b" / "x").rename(only / "b" / "y")
    one_line(DatasetError, lambda: scan_folder(only).load("lodo-b"), "'b'", "'y'", "nothing to evaluate")


def test_class_folders_match_across_spellings(tmp_path):
    root = make(tmp_path / "ds", n=1)
    (root / "c_dom" / "dog").rename(root / "c_dom" / "Dog")
    (root / "c_dom" / "bird").rename(root / "c_dom" / "Bird_")
    ds = scan_folder(root)
    assert ds.classes == ("bird", "cat", "dog")
    assert ds.spellings == {"bird": {"c_dom": "Bird_"}, "dog": {"c_dom": "Dog"}}
    assert all(ds.counts(d) == {"bird": 1, "cat": 1, "dog": 1} for d in ds.domains)
    (root / "c_dom" / "DOG").mkdir()
    one_line(DatasetError, lambda: scan_folder(root), "c_dom", "'DOG'", "'Dog'", "merge or rename")


def test_user_given_splits(tmp_path):
    ds = scan_folder(make(tmp_path / "ds"))
    sp = ds.split(train=["a_dom"], test=["c_dom"])
    assert sp.train == ("a_dom",) and sp.test == ("c_dom",) and sp.name == "train-a_dom-test-c_dom"
    assert ds.split(train="a_dom").test == ("b_dom", "c_dom")
    assert ds.split(test=["a_dom"]).train == ("b_dom", "c_dom")
    assert set(ds.load(train=["a_dom"], test=["c_dom"]).domains) == {"a_dom", "c_dom"}
    one_line(UnknownNameError, lambda: ds.split(train=["x_dom"]), "x_dom", "a_dom")
    one_line(DatasetError, lambda: ds.split("lodo-a_dom", test=["a_dom"]), "not both")
    one_line(DatasetError, lambda: ds.split(train=["a_dom"], test=["a_dom"]), "a_dom")
    one_line(UnknownNameError, lambda: ds.load("lodo-x"), "'lodo-x'", "lodo-a_dom")
    one_line(DatasetError, lambda: ds.load(), "lodo-a_dom", "train=")


def test_any_size_is_resized(tmp_path):
    root = make(tmp_path / "ds", n=2)
    Image.new("RGB", (12, 10), (1, 2, 3)).save(root / "c_dom" / "cat" / "odd.png")
    data = load_folder(root, "lodo-a_dom")
    assert data.image_shape == (3, 16, 16) and data.meta["image_size"] == 16
    data = load_folder(root, "lodo-a_dom", size=4)
    assert data.image_shape == (3, 4, 4) and data.meta["image_size"] == 4
    v = grey_value(DOMAINS.index("a_dom"), CLASSES.index("bird"), 0)  # a flat colour survives the resize
    assert torch.allclose(data.domain("a_dom").x[0, :, 0, 0] * 255, torch.tensor([v, 255.0 - v, 7]), atol=0.6)
    assert load_folder(root, "lodo-a_dom", size=33).image_shape == (3, 33, 33)
    one_line(DatasetError, lambda: load_folder(root, "lodo-a_dom", size=0), "size 0")


def test_channel_modes(tmp_path):
    grey = load_folder(make(tmp_path / "grey", mode="L"), "lodo-a_dom")
    assert grey.image_shape == (1, 16, 16) and grey.meta["image_mode"] == "L"
    assert load_folder(tmp_path / "grey", "lodo-a_dom", mode="RGB").image_shape == (3, 16, 16)
    root = make(tmp_path / "mixed", n=1)
    Image.new("L", (8, 8), 9).save(root / "b_dom" / "dog" / "grey.png")
    Image.new("RGBA", (8, 8), (1, 2, 3, 4)).save(root / "b_dom" / "dog" / "alpha.png")
    ds = scan_folder(root)
    assert ds.majority_mode() == "RGB"  # 9 RGB, 1 grey, 1 with alpha: converted to the majority
    data = ds.load("lodo-a_dom")
    assert data.image_shape == (3, 16, 16) and data.meta["image_mode"] == "RGB"
    grey_img = data.domain("b_dom").x[[p.name for p, _ in ds.files["b_dom"]].index("grey.png")]
    assert torch.allclose(grey_img, torch.full_like(grey_img, 9 / 255))  # grey to RGB: three equal channels
    assert load_folder(root, "lodo-a_dom", mode="L").image_shape == (1, 16, 16)
    assert load_folder(root, "lodo-a_dom", mode="RGBA").image_shape == (4, 16, 16)
    one_line(DatasetError, lambda: load_folder(root, "lodo-a_dom", mode="CMYK"), "'CMYK'", "RGB")


def test_describe_shows_domains_classes_sizes_and_modes(tmp_path):
    root = make(tmp_path / "ds", n=2)
    Image.new("L", (30, 20), 9).save(root / "a_dom" / "dog" / "grey.png")
    (root / "c_dom" / "dog").rename(root / "c_dom" / "Dog")
    (root / "b_dom" / "cat").rename(root / "b_dom" / "Cat")
    for f in (root / "b_dom" / "Cat").iterdir():
        f.unlink()
    (root / "b_dom" / "Cat").rmdir()
    info = scan_folder(root).describe()
    a = next(d for d in info["domains"] if d["name"] == "a_dom")
    b = next(d for d in info["domains"] if d["name"] == "b_dom")
    assert a["images"] == 7 and a["per_class"] == {"bird": 2, "cat": 2, "dog": 3}
    assert a["modes"] == {"RGB": 6, "L": 1} and a["sizes"] == {"8x8": 6, "30x20": 1}
    assert b["missing_classes"] == ["cat"] and b["images"] == 4
    assert info["spellings"] == {"dog": {"c_dom": "Dog"}} and info["mode"] == "RGB" and info["images"] == 17
    assert [s["name"] for s in info["splits"]] == ["lodo-a_dom", "lodo-b_dom", "lodo-c_dom"]


def test_image_formats_junk_and_nested_files(tmp_path):
    root = make(tmp_path / "ds", domains=("d1", "d2"), classes=("c", "e"), n=1)
    exts = [e for e in IMAGE_EXTENSIONS if e != ".webp" or features.check("webp")]
    for e in exts:
        Image.new("RGB", (8, 8), (10, 20, 30)).save(root / "d1" / "c" / f"img{e}")
    (root / "d2" / "c" / "sub").mkdir()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(root / "d2" / "c" / "sub" / "deep.JPG", format="JPEG")
    (root / "d2" / "c" / ".DS_Store").write_bytes(b"junk")
    (root / "d2" / "c" / "Thumbs.db").write_bytes(b"junk")
    (root / "README.txt").write_text("loose files at the top are ignored")
    data = load_folder(root, "lodo-d1", mode="RGB")
    assert len(data.domain("d1")) == 2 + len(exts) and len(data.domain("d2")) == 3


def test_bad_folders(tmp_path):
    one_line(DatasetError, lambda: scan_folder(tmp_path / "nope"), "nope", "does not exist", "<domain>/<class>")
    (tmp_path / "file").write_text("x")
    one_line(DatasetError, lambda: scan_folder(tmp_path / "file"), "file", "not a folder")
    (tmp_path / "empty").mkdir()
    one_line(DatasetError, lambda: scan_folder(tmp_path / "empty"), "empty", "no domain folders")
    one = make(tmp_path / "one", domains=("solo",))
    one_line(DatasetError, lambda: scan_folder(one), "solo", "two or more")
    one_class = make(tmp_path / "one_class", domains=("d1", "d2"), classes=("cat",))
    one_line(DatasetError, lambda: scan_folder(one_class), "one class", "cat", "two or more")
    root = make(tmp_path / "ds", domains=("d1", "d2"), classes=("c", "e"), n=1)
    (root / "d3").mkdir()
    one_line(DatasetError, lambda: scan_folder(root), "d3", "no class folders")
    (root / "d3" / "c").mkdir()
    one_line(DatasetError, lambda: scan_folder(root), str(Path("d3") / "c"), "no images", ".png")
    (root / "d3" / "c" / "notes.txt").write_text("x")
    one_line(DatasetError, lambda: scan_folder(root), "notes.txt", "not an image")
    (root / "d3" / "c" / "notes.txt").unlink()
    (root / "d3" / "c" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    one_line(DatasetError, lambda: load_folder(root, "lodo-d1"), "broken.jpg", "cannot decode")
    Image.new("RGB", (8, 8)).save(root / "d3" / "c" / "broken.jpg", format="PNG")  # a wrong suffix is fine
    assert len(load_folder(root, "lodo-d3").domain("d3")) == 1
    one_line(DatasetError, lambda: load_folder(root, "lodo-d1", per_domain=0), "per_domain=0")


def test_known_datasets_are_recognized(tmp_path):
    assert known_dataset("office_home") == "OfficeHome" and known_dataset("terra_incognita") == "TerraIncognita"
    assert known_dataset("PACS") == "PACS" and known_dataset("NICO++") == "NICO" and known_dataset("mine") is None
    pacs = ("art_painting", "cartoon", "photo", "sketch")
    partial = make(tmp_path / "PACS", domains=pacs[:3], classes=("dog", "cat"), n=1)
    one_line(DatasetError, lambda: scan_folder(partial), "PACS", "sketch", "art_painting, cartoon, photo")
    make(partial, domains=("sketch", "kfold"), classes=("dog", "cat"), n=1)
    one_line(DatasetError, lambda: scan_folder(partial), "unexpected", "kfold")
    home = make(tmp_path / "office_home", domains=("Art", "Clipart", "Product", "Real World"), classes=("Pen", "Mug"), n=1)
    assert scan_folder(home).name == "OfficeHome" and scan_folder(home).known
    assert "lodo-Real World" in scan_folder(home).splits
    renamed = make(tmp_path / "somewhere", domains=pacs, classes=("dog", "cat"), n=1)
    assert scan_folder(renamed).name == "PACS"
    nico = make(tmp_path / "NICO", domains=("autumn", "rock"), classes=("bear", "cow"), n=1)
    assert scan_folder(nico).name == "NICO"


def test_per_domain_is_seeded_stratified_and_split_independent(tmp_path):
    ds = scan_folder(make(tmp_path / "ds", classes=("x", "y"), n=10))
    a = ds.load("lodo-a_dom", per_domain=6, seed=3)
    b = ds.load("lodo-b_dom", per_domain=6, seed=3)
    for dom in ("a_dom", "c_dom"):
        assert torch.equal(a.domain(dom).x, b.domain(dom).x) and torch.equal(a.domain(dom).y, b.domain(dom).y)
    assert torch.bincount(a.domain("a_dom").y).tolist() == [3, 3]
    assert a.meta["counts"]["a_dom"] == 6 and a.meta["available"]["a_dom"] == 20
    others = [ds.load("lodo-a_dom", per_domain=6, seed=s).domain("a_dom").x for s in range(4, 8)]
    assert any(not torch.equal(o, a.domain("a_dom").x) for o in others)
    assert len(ds.load("lodo-a_dom", per_domain=100).domain("a_dom")) == 20  # a cap, not a demand


def test_load_split_takes_folders(tmp_path, monkeypatch):
    root = make(tmp_path / "ds", n=1)
    data = load_split(str(root), "lodo-c_dom", size=4)
    assert data.name == "ds" and data.split.test == ("c_dom",) and data.image_shape == (3, 4, 4)
    assert load_split(root, None, train=["a_dom"], test=["b_dom"]).split.train == ("a_dom",)
    one_line(DatasetError, lambda: load_split(str(root), "lodo-c_dom", root=tmp_path), "its own root")
    one_line(DatasetError, lambda: load_split(str(tmp_path / "missing"), "lodo-x"), "missing", "does not exist")
    msg = one_line(UnknownNameError, lambda: load_split("no-such-suite", "iid"), "'no-such-suite'", "digits-shift")
    assert "folder" in msg and "<domain>/<class>/<image>" in msg
    # a DomainBed dataset by name, with root its data_dir (DomainBed's folder name) or its own folder
    pacs = ("art_painting", "cartoon", "photo", "sketch")
    make(tmp_path / "data" / "PACS", domains=pacs, classes=("dog", "cat"), n=1)
    for r in (tmp_path / "data", tmp_path / "data" / "PACS"):
        got = load_split("PACS", "lodo-photo", root=r)
        assert got.name == "PACS" and got.split.train == ("art_painting", "cartoon", "sketch")
    monkeypatch.chdir(tmp_path)
    one_line(DatasetError, lambda: load_split("PACS", "lodo-photo"), "PACS", "root=")
    make(tmp_path / "data" / "VLCS", domains=("a", "b"), classes=("dog", "cat"), n=1)
    one_line(DatasetError, lambda: load_split("VLCS", "lodo-a", root=tmp_path / "data"), "VLCS", "SUN09")
    assert load_split("digits-shift", "iid", per_domain=20, size=8).name == "digits-shift-v1"


def test_image_mode_is_for_folders(tmp_path):
    one_line(DatasetError, lambda: load_split("digits-shift", "iid", mode="L"), "'L'", "folder", "RGB")
    assert load_split("digits-shift", "iid", per_domain=20, size=8, mode="RGB").image_shape == (3, 8, 8)
