"""The Fashion-MNIST idx loader (on hand-made idx files) and the generated shift suites (on digits)."""

import gzip
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from archscout.data import DatasetError, Split, get_suite, list_suites, load_digits, load_fashion_mnist, load_split
from archscout.data import parse_idx
from archscout.data._shifts import PALETTE
from archscout.data._sources import FASHION_DEFAULT_DIR, FASHION_ENV, FASHION_FILES
from archscout.exceptions import UnknownNameError
from helpers import one_line


def idx(arr: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    head = bytes([0, 0, codes[arr.dtype], arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.tobytes()


# -- idx files -----------------------------------------------------------------------------------------------


def test_parse_idx_good():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(idx(a)), a)
    b = np.array([1, -2, 70000], dtype=">i4")
    assert parse_idx(idx(b)).tolist() == [1, -2, 70000]  # big-endian ints


def test_parse_idx_bad():
    good = idx(np.zeros((2, 3), dtype=np.uint8))
    one_line(DatasetError, lambda: parse_idx(b"\x01" + good[1:], "f.idx"), "f.idx", "not an idx file", "01000802")
    one_line(DatasetError, lambda: parse_idx(good[:2] + b"\x07" + good[3:]), "bad magic")
    one_line(DatasetError, lambda: parse_idx(b""), "empty")
    one_line(DatasetError, lambda: parse_idx(good[:6], "f.idx"), "f.idx", "truncated", "header")
    one_line(DatasetError, lambda: parse_idx(good[:-1]), "truncated", "(2, 3)", str(len(good) - 1))
    one_line(DatasetError, lambda: parse_idx(good + b"\x00"), "longer than its header says")


def test_parse_idx_huge_dims_say_truncated():
    raw = bytes([0, 0, 8, 2]) + (2**32 - 1).to_bytes(4, "big") + (2**31 + 1).to_bytes(4, "big")
    one_line(DatasetError, lambda: parse_idx(raw), "truncated")


def fake_fashion(folder: Path, gz: bool, n_train=6, n_test=4) -> tuple[np.ndarray, np.ndarray]:
    """Four tiny idx files shaped like Fashion-MNIST's (their checksums cannot match)."""
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 5, 5), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 5, 5), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}
    folder.mkdir(parents=True)
    for stem, a in arrays.items():
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(idx(a)))
        else:
            (folder / stem).write_bytes(idx(a))
    return (np.concatenate([arrays["train-images-idx3-ubyte"], arrays["t10k-images-idx3-ubyte"]]),
            np.concatenate([arrays["train-labels-idx1-ubyte"], arrays["t10k-labels-idx1-ubyte"]]))


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
def test_fashion_folder_checksums(tmp_path, gz):
    images, labels = fake_fashion(tmp_path / "f", gz)
    one_line(DatasetError, lambda: load_fashion_mnist(tmp_path / "f"), str(tmp_path / "f"), "checksum",
             "dataset-fashion-mnist")
    x, y = load_fashion_mnist(tmp_path / "f", verify=False)
    assert np.array_equal(x, images) and np.array_equal(y, labels) and y.dtype == np.int64
    # through a suite too: one line, before anything is generated
    one_line(DatasetError, lambda: load_split("fmnist-shift", "iid", root=tmp_path / "f"), "checksum")


def test_fashion_env_folder(tmp_path, monkeypatch):
    images, _ = fake_fashion(tmp_path / "env", gz=True)
    monkeypatch.setenv(FASHION_ENV, str(tmp_path / "env"))
    assert np.array_equal(load_fashion_mnist(verify=False)[0], images)


def test_fashion_missing_and_broken_files(tmp_path):
    fake_fashion(tmp_path / "f", gz=False)
    (tmp_path / "f" / "t10k-labels-idx1-ubyte").unlink()
    one_line(DatasetError, lambda: load_fashion_mnist(tmp_path / "f"), "t10k-labels-idx1-ubyte", "not found",
             "apt-get install dataset-fashion-mnist", FASHION_ENV)
    one_line(DatasetError, lambda: load_fashion_mnist(tmp_path / "nowhere"), "nowhere", "dataset-fashion-mnist")
    (tmp_path / "f" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    one_line(DatasetError, lambda: load_fashion_mnist(tmp_path / "f", verify=False), "t10k-labels-idx1-ubyte.gz",
             "cannot read", "dataset-fashion-mnist")
    (tmp_path / "f" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx(np.zeros(9, np.uint8))))
    one_line(DatasetError, lambda: load_fashion_mnist(tmp_path / "f", verify=False), "inconsistent")


def corrupt_gzip(path: Path) -> None:
    """A gzip file whose deflate stream is damaged (found by flipping bytes until zlib complains)."""
    raw = gzip.compress(idx(np.arange(1000, dtype=np.uint8) % 7))
    for i in range(12, len(raw) - 8):
        bad = bytearray(raw)
        bad[i] ^= 0x5A
        try:
            gzip.decompress(bytes(bad))
        except zlib.error:
            path.write_bytes(bytes(bad))
            return
        except Exception:  # noqa: BLE001 - other damage that gzip itself reports
            continue
    pytest.skip("no byte flip gave a zlib error")


def test_fashion_damaged_deflate_stream_is_a_dataset_error(tmp_path):
    fake_fashion(tmp_path / "f", gz=True)
    corrupt_gzip(tmp_path / "f" / "train-labels-idx1-ubyte.gz")
    one_line(DatasetError, lambda: load_fashion_mnist(tmp_path / "f", verify=False), "train-labels-idx1-ubyte.gz")


@pytest.mark.skipif(not FASHION_DEFAULT_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    assert set(FASHION_FILES) <= {p.name.removesuffix(".gz") for p in FASHION_DEFAULT_DIR.iterdir()}
    x, y = load_fashion_mnist(FASHION_DEFAULT_DIR)
    assert x.shape == (70000, 28, 28) and x.dtype == np.uint8 and np.bincount(y).tolist() == [7000] * 10
    data = load_split("fmnist-shift", "correlation", per_domain=50, size=8, root=FASHION_DEFAULT_DIR)
    assert data.num_classes == 10 and data.image_shape == (3, 8, 8) and data.name == "fmnist-shift-v1"


# -- shift suites (on digits-shift: 1,797 bundled digits) ------------------------------------------------------


def all_domains(suite: str) -> Split:
    names = list(get_suite(suite).domains)
    return Split("all", tuple(names[:-1]), (names[-1],))


def test_suites_are_registered():
    ids = [s.id for s in list_suites()]
    assert "fmnist-shift-v1" in ids and "digits-shift-v1" in ids and len(ids) == len(set(ids))
    assert get_suite("digits-shift") is get_suite("digits-shift-v1")
    suite = get_suite("digits-shift")
    for sp in suite.splits.values():
        assert set(sp.train + sp.test) <= set(suite.domains)


def test_every_domain_is_a_valid_rgb_tensor():
    data = load_split("digits-shift", all_domains("digits-shift"), per_domain=20, size=8)
    assert len(data.domains) == 16
    for d in data.domains.values():
        assert d.x.shape == (20, 3, 8, 8) and d.x.dtype == torch.float32 and d.y.dtype == torch.int64
        assert 0 <= d.x.min() and d.x.max() <= 1 and d.y.min() >= 0 and d.y.max() <= 9


def test_same_seed_same_tensors_other_seed_other_tensors():
    a = load_split("digits-shift", "correlation", seed=0, per_domain=50)
    b = load_split("digits-shift", "correlation", seed=0, per_domain=50)
    c = load_split("digits-shift", "correlation", seed=1, per_domain=50)
    for name in a.domains:
        assert torch.equal(a.domain(name).x, b.domain(name).x) and torch.equal(a.domain(name).y, b.domain(name).y)
        assert not torch.equal(a.domain(name).x, c.domain(name).x)
    assert a.meta["seed"] == 0 and c.meta["seed"] == 1 and a.meta["split"] == "correlation"


def test_a_domain_is_the_same_whichever_split_loads_it():
    a = load_split("digits-shift", "rotation", seed=2, per_domain=40)
    b = load_split("digits-shift", "rotation-lodo-rot30", seed=2, per_domain=40)
    shared = set(a.domains) & set(b.domains)
    assert len(shared) == 6
    for name in shared:
        assert torch.equal(a.domain(name).x, b.domain(name).x) and torch.equal(a.domain(name).y, b.domain(name).y)
    s = load_split("digits-shift", "style-lodo-noise", seed=2, per_domain=40)
    assert torch.equal(s.domain("noise").x, load_split("digits-shift", "style", seed=2, per_domain=40).domain("noise").x)


def source_indices(x: torch.Tensor, y: torch.Tensor) -> list[int]:
    """The digits a plain (uncoloured, unrotated, 8x8) domain holds, by exact pixel match."""
    images, labels = load_digits()
    where = {im.tobytes(): i for i, im in enumerate(images)}  # the 1,797 digits are all distinct
    grey = (x[:, 0] * 255).round().to(torch.uint8).numpy()
    out = [where[g.tobytes()] for g in grey]
    assert np.array_equal(labels[out], y.numpy())
    return out


def test_domains_are_disjoint_when_the_source_is_big_enough():
    plain = ("iid-a", "iid-b", "rot0", "clean")  # the domains that keep the digits as they are
    split = Split("plain", plain[:-1], plain[-1:])
    data = load_split("digits-shift", split, per_domain=100, size=8)  # 16 x 100 <= 1,797: disjoint slices
    seen = [set(source_indices(data.domain(d).x, data.domain(d).y)) for d in plain]
    assert all(len(s) == 100 for s in seen) and len(set().union(*seen)) == 400
    big = load_split("digits-shift", split, per_domain=300, size=8)  # 16 x 300 > 1,797: each draws its own
    seen = [source_indices(big.domain(d).x, big.domain(d).y) for d in plain]
    assert all(len(set(s)) == 300 for s in seen) and len(set().union(*map(set, seen))) < 1200


def colour_ids(x: torch.Tensor) -> torch.Tensor:
    """Which palette colour each image is drawn in: its channel sums are proportional to the colour."""
    sums = x.sum(dim=(2, 3))
    ratio = sums / sums.max(dim=1, keepdim=True).values
    palette = PALETTE / PALETTE.max(dim=1, keepdim=True).values
    return (ratio[:, None, :] - palette[None]).abs().sum(-1).argmin(1)


def test_colour_agrees_with_the_label_as_documented():
    data = load_split("digits-shift", "correlation", per_domain=600, seed=0)
    for name, p in {"color90": 0.9, "color80": 0.8, "color10": 0.1}.items():
        d = data.domain(name)
        cid = colour_ids(d.x)
        agree = (cid == d.y).float().mean().item()
        assert abs(agree - p) < 0.05, (name, agree)
        assert torch.all((cid == d.y) | (cid == (d.y + 1) % 10))  # otherwise the next class's colour


def test_rotation_domains_are_rotated_counter_clockwise():
    data = load_split("digits-shift", "rotation", per_domain=100, size=16)
    mean0 = data.domain("rot0").x[:, 0].mean(0).numpy()

    def rotated(deg: float) -> np.ndarray:  # PIL rotates counter-clockwise
        return np.asarray(Image.fromarray(mean0, mode="F").rotate(deg, resample=Image.Resampling.BILINEAR))

    for deg in (15, 30, 45, 60, 75):
        x = data.domain(f"rot{deg}").x
        assert torch.equal(x[:, 0], x[:, 1]) and not torch.equal(x, data.domain("rot0").x)
        mean = x[:, 0].mean(0).numpy()
        err = {a: np.abs(mean - rotated(a)).mean() for a in (-deg, 0, deg)}
        assert err[deg] < 0.5 * min(err[0], err[-deg]), (deg, err)


def test_unknown_suite_split_and_domain():
    one_line(UnknownNameError, lambda: load_split("digit-shift", "iid"), "'digit-shift'", "digits-shift")
    one_line(UnknownNameError, lambda: get_suite("nope"), "'nope'", "fmnist-shift")
    one_line(UnknownNameError, lambda: load_split("digits-shift", "rotations"), "'rotations'", "rotation", "iid")
    one_line(UnknownNameError, lambda: load_split("digits-shift", Split("mine", ("iid-a",), ("rot90",))), "'rot90'",
             "rot75")


def test_size_and_per_domain_ranges():
    one_line(DatasetError, lambda: load_split("digits-shift", "iid", size=300), "300", "4 to 256")
    one_line(DatasetError, lambda: load_split("digits-shift", "iid", per_domain=5000), "5000", "1797")
    one_line(DatasetError, lambda: load_split("digits-shift", "iid", per_domain=1), "2 to 1797")


def test_size_zero_is_an_error():
    one_line(DatasetError, lambda: load_split("digits-shift", "iid", size=0), "size 0")


def test_negative_seed_is_a_dataset_error():
    one_line(DatasetError, lambda: load_split("digits-shift", "iid", seed=-1), "-1")


def test_cached_source_arrays_are_read_only(tmp_path):
    fake_fashion(tmp_path / "f", gz=False)
    arrays = [*load_digits(), *load_fashion_mnist(tmp_path / "f", verify=False)]
    assert not any(a.flags.writeable for a in arrays)
