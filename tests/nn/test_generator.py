import pytest
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

from archscout.nn._auxnets import ConvNet4, freeze, pretrain_classifier
from archscout.nn._generator import ConditionalGenerator


@pytest.mark.parametrize("size,channels", [(8, 3), (16, 3), (12, 2)])
def test_generator_keeps_shape_and_is_residual(size, channels):
    torch.manual_seed(0)
    g = ConditionalGenerator(channels, num_domains=3, channels=4, res_blocks=1)
    x = torch.randn(5, channels, size, size)
    d = torch.tensor([0, 1, 2, 0, 1])
    out = g(x, d, g.novel)
    assert out.shape == x.shape
    with torch.no_grad():
        g.out.weight.zero_()  # tanh(0) = 0: the output is the input exactly
    assert torch.equal(g(x, d, g.novel), x)
    onehot = F.one_hot(d, 4).float()
    assert torch.equal(g(x, onehot, g.novel), g(x, d, g.novel))


@pytest.mark.parametrize("size", [10, 33, 34, 35])
def test_generator_takes_any_image_size(size):
    g = ConditionalGenerator(3, num_domains=2, channels=4, res_blocks=0)
    x = torch.randn(2, 3, size, size + 1)
    assert g(x, 0, 2).shape == x.shape
    with torch.no_grad():
        g.out.weight.zero_()
    assert torch.equal(g(x, 0, 2), x)  # padding never leaks into the output


def test_generator_rejects_bad_channels():
    g = ConditionalGenerator(3, num_domains=2, channels=4, res_blocks=0)
    with pytest.raises(ValueError, match="channels"):
        g(torch.randn(2, 1, 8, 8), 0, 2)


def test_paper_sized_generator_layout():
    g = ConditionalGenerator(3, num_domains=3, channels=64, res_blocks=3)
    assert g.down[0].in_channels == 64 + 2 * 4 and g.down[3].out_channels == 256 and len(g.res) == 3


def test_cycle_loss_falls_on_a_tiny_run():
    torch.manual_seed(0)
    g = ConditionalGenerator(3, num_domains=2, channels=4, res_blocks=1)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999))
    x = torch.rand(8, 3, 8, 8) * 2 - 1
    d = torch.arange(8) % 2
    losses = []
    for _ in range(30):
        rec = g(g(x, d, g.novel), g.novel, d)
        loss = (rec - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


@pytest.mark.parametrize("size", [8, 16, 28, 84])
def test_convnet4_any_size(size):
    net = ConvNet4(3, num_classes=5, width=8, emb_dim=16)
    x = torch.randn(2, 3, size, size)
    assert net(x).shape == (2, 5) and net.embed(x).shape == (2, 16)


def test_pretrain_learns_and_freezes():
    torch.manual_seed(0)
    y = torch.arange(128) % 2
    x = torch.randn(128, 3, 8, 8) * 0.3 + y.view(-1, 1, 1, 1).float()  # separable by brightness
    net = ConvNet4(3, 2, width=8, emb_dim=8)
    report = pretrain_classifier(net, x, y, epochs=8, batch_size=32, generator=torch.Generator().manual_seed(0))
    assert report["accuracy"] > 90
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    xi = x[:4].clone().requires_grad_()
    net(xi).sum().backward()  # frozen, but inputs still get gradients
    assert xi.grad is not None and xi.grad.abs().sum() > 0
    assert freeze(net) is net
