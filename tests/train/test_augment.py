"""Tensor augmentation without torchvision: random crop with zero padding, horizontal flip."""

import torch

from archscout.train import Classifier, augment, random_crop, random_flip


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_crop_is_a_shifted_window_of_the_padded_image():
    x = torch.rand(16, 3, 6, 6)
    out = random_crop(x, 2, gen())
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 6])]
        assert hits
        offsets.add(hits[0])
    assert len(offsets) > 1  # offsets differ between images


def test_no_padding_no_crop_and_same_seed_same_draw():
    x = torch.rand(4, 3, 5, 5)
    assert torch.equal(random_crop(x, 0, gen()), x)
    assert torch.equal(augment(x, 2, True, gen(3)), augment(x, 2, True, gen(3)))


def test_flip_mirrors_about_half_of_the_images():
    x = torch.rand(200, 1, 4, 4)
    out = random_flip(x, gen())
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 60 < sum(flipped) < 140


def test_classifier_normalizes_its_input():
    net = torch.nn.Flatten()
    model = Classifier(net, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    assert torch.allclose(model(torch.full((1, 3, 1, 1), 0.75)), torch.ones(1, 3))
