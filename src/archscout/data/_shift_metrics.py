"""OoD-Bench (Ye et al., CVPR 2022): how much a split's test domains (q) differ from its training
domains (p) in *diversity* (features seen on one side only) and in *correlation* (label-feature
relations that change where both sides have support).

The estimate follows algorithms.md §12: label-shift-free balancing, an environment classifier whose
features z span the shift, Gaussian KDEs of z, importance-sampled integrals with thresholds eps_div
and eps_cor, calibrated on an iid version of the same data. The CPU profile (§13) replaces the
pretrained ResNet-18 by a small CNN trained from scratch; the figures depend on that backbone.

The environment classifier trains on ``accelerator`` (built and seeded on the CPU, then moved; every
draw from CPU generators, so ``cpu`` gives exactly the results of a CPU-only install), its training
forward passes under autocast for ``precision`` bf16 / fp16 (fp16 with loss scaling); its features
for the KDEs are computed in fp32.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from archscout._accelerator import (autocast, check_accelerator, check_precision, describe, fast_math, grad_scaler,
                                    resolve)
from archscout.data._domains import DatasetError, DomainData, holdout
from archscout.exceptions import ArchscoutError, ArchscoutWarning

FORMULAS = ("current", "legacy")
Progress = Callable[[str], None]


class ShiftMetricWarning(ArchscoutWarning):
    """A shift estimate that went ahead with a caveat (a class skipped, calibration off its band)."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ArchscoutError(message)


@dataclass(frozen=True)
class ShiftMetricsConfig:
    """Settings of the OoD-Bench estimate. The defaults are the CPU profile: about a minute per
    fmnist-shift split on 2 cores (5 trials, each training a calibration and a measuring classifier
    of ~500 steps, ~5 s each; the KDE work is about a second). See docs/shift_metrics.md."""

    trials: int = 5  # seeds seed, seed+1, ...: mean and std over them
    seed: int = 0
    formula: str = "current"  # "current" (OoD-Bench+) or "legacy" (the paper's |p - q| forms)
    calibrate: bool = True  # bisect the thresholds on a force-iid version of the same data
    eps_div: float = 1e-12  # thresholds used when calibrate is False (OoD-Bench's defaults)
    eps_cor: float = 5e-4
    band: tuple[float, float] = (0.005, 0.01)  # where calibration puts both iid shifts
    eps_div_range: tuple[float, float] = (0.0, 1e-6)
    eps_cor_range: tuple[float, float] = (0.0, 1.0)
    calibration_iters: int = 20
    samples: int = 10_000  # M importance samples of the pooled KDE
    holdout_fraction: float = 0.2  # the "out" share whose features enter the KDEs
    max_per_class: int | None = None  # cap on the balanced samples per class and side (None: all)
    dim_z: int = 8  # feature dimension (the KDE's)
    width: int = 16  # channels of the CNN's first block (then 2x, 4x)
    epochs: int = 10  # cosine epochs 1..swa_start, SWA over the rest
    swa_start: int = 5
    batch_size: int = 32  # per side: each step sees 32 from p and 32 from q
    lr: float = 0.05
    swa_lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 1e-4
    accelerator: str = "auto"  # compute device: auto (CUDA, then MPS, else CPU), cpu, cuda, cuda:N, mps
    precision: str = "fp32"  # fp32, or autocast bf16 / fp16 of the classifier's training

    def __post_init__(self) -> None:
        check_accelerator(self.accelerator)
        check_precision(self.precision)
        _check(self.formula in FORMULAS, f"unknown formula {self.formula!r}; choose from: current, legacy")
        for name in ("trials", "samples", "calibration_iters", "dim_z", "width", "batch_size"):
            _check(getattr(self, name) >= 1, f"{name} {getattr(self, name)} must be a positive number")
        _check(self.seed >= 0, f"seed {self.seed} must be zero or positive")
        _check(0 < self.holdout_fraction < 1, f"holdout_fraction {self.holdout_fraction} must lie in (0, 1)")
        _check(0 <= self.swa_start < self.epochs,
               f"swa_start {self.swa_start} must be below epochs {self.epochs} (SWA needs at least one epoch)")
        _check(0 <= self.band[0] < self.band[1], f"band {self.band} must be (low, high) with 0 <= low < high")
        for name in ("eps_div_range", "eps_cor_range"):
            lo, hi = getattr(self, name)
            _check(0 <= lo < hi, f"{name} {(lo, hi)} must be (low, high) with 0 <= low < high")
        _check(self.max_per_class is None or self.max_per_class >= 2,
               f"max_per_class {self.max_per_class} must be at least 2")

    @property
    def backbone(self) -> str:
        return f"cnn3-w{self.width} from scratch, dim_z {self.dim_z}"


# --- 1. label-shift-free data -------------------------------------------------------------------

def _seed(seed: int, *stream: int) -> int:
    return int(np.random.SeedSequence([seed, *stream]).generate_state(1)[0])


def balance_classes(y_p: np.ndarray, y_q: np.ndarray, seed: int = 0,
                    max_per_class: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices into p and q keeping min(n_p(y), n_q(y)) random samples of every class on each side,
    so that p(y) = q(y); classes missing on either side are dropped."""
    y_p, y_q = np.asarray(y_p), np.asarray(y_q)
    rng = np.random.default_rng(seed)
    keep_p, keep_q = [], []
    for c in np.intersect1d(y_p, y_q):
        ip, iq = np.flatnonzero(y_p == c), np.flatnonzero(y_q == c)
        n = min(len(ip), len(iq), max_per_class or len(ip))
        keep_p.append(rng.permutation(ip)[:n])
        keep_q.append(rng.permutation(iq)[:n])
    if not keep_p:
        raise DatasetError("the training and test domains share no class: no shift can be estimated")
    return np.sort(np.concatenate(keep_p)), np.sort(np.concatenate(keep_q))


def check_balanced(y_p: np.ndarray, y_q: np.ndarray) -> None:
    """Refuse p and q whose per-class counts differ: the correlation estimate needs p(y) = q(y)."""
    cp, cq = (dict(zip(*np.unique(np.asarray(y), return_counts=True))) for y in (y_p, y_q))
    if cp != cq:
        bad = sorted(set(cp) | set(cq), key=lambda c: (cp.get(c, 0) == cq.get(c, 0), c))[0]
        raise DatasetError(f"p and q must have equal per-class counts (label-shift free); class {bad}: "
                           f"{cp.get(bad, 0)} in p, {cq.get(bad, 0)} in q")


def prepare_sides(y_p: np.ndarray, y_q: np.ndarray, seed: int, *, force_iid: bool = False,
                  holdout_fraction: float = 0.2,
                  max_per_class: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Index sets ``{"p": (in, out), "q": (in, out)}`` into the concatenation p ++ q (q offset by
    len(p)): balanced per class, optionally mixed to be iid, then split in/out stratified by class.

    ``force_iid`` (calibration): split each side 50/50 by class; new p = first half of p + second half
    of q, new q = the other halves, so that both sides follow the same distribution."""
    y_p, y_q = np.asarray(y_p), np.asarray(y_q)
    ip, iq = balance_classes(y_p, y_q, _seed(seed, 1), max_per_class)
    iq = iq + len(y_p)
    y = np.concatenate([y_p, y_q])
    if force_iid:
        (pa, pb), (qa, qb) = (holdout(y[i], 0.5, _seed(seed, k)) for i, k in ((ip, 2), (iq, 3)))
        ip, iq = np.concatenate([ip[pa], iq[qb]]), np.concatenate([ip[pb], iq[qa]])
    check_balanced(y[ip], y[iq])
    out = {}
    for side, idx, k in (("p", ip, 4), ("q", iq, 5)):
        a, b = holdout(y[idx], holdout_fraction, _seed(seed, k))
        out[side] = (idx[a], idx[b])
    return out


# --- 2. the environment classifier ----------------------------------------------------------------

class SmallCNN(nn.Module):
    """Three conv-BN-ReLU blocks (max-pool after the first two), flattened: a from-scratch stand-in
    for OoD-Bench's pretrained ResNet-18; flattening keeps where things are (rotation needs it)."""

    def __init__(self, shape: tuple[int, int, int], width: int = 16):
        super().__init__()
        c, h, w = shape
        blocks, chans = [], (c, width, 2 * width, 4 * width)
        for i in range(3):
            blocks += [nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False), nn.BatchNorm2d(chans[i + 1]),
                       nn.ReLU(inplace=True)]
            if i < 2:
                blocks.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d((max(1, h // 4), max(1, w // 4))), nn.Flatten())
        self.out_dim = 4 * width * max(1, h // 4) * max(1, w // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class EnvClassifier(nn.Module):
    """Which side (0 = p, 1 = q) a labelled image comes from: z = fc(backbone(x)), a label gate
    v = Linear(onehot(y)), logits = head(z * v). The gate lets z carry class-specific shifts."""

    def __init__(self, backbone: SmallCNN, num_classes: int, dim_z: int):
        super().__init__()
        self.num_classes = num_classes
        self.g = nn.Sequential(backbone, nn.Linear(backbone.out_dim, dim_z))
        self.gate = nn.Linear(num_classes, dim_z)
        self.head = nn.Linear(dim_z, 2)
        for m in (self.g[1], self.gate, self.head):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.g(x)
        return z, self.head(z * self.gate(F.one_hot(y, self.num_classes).float()))


def _recompute_bn(model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """BN statistics of the averaged weights: a cumulative average over the training batches."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for x, y in batches:
            model(x, y)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.eval()


def train_env_classifier(xp: torch.Tensor, yp: torch.Tensor, xq: torch.Tensor, yq: torch.Tensor,
                         num_classes: int, config: ShiftMetricsConfig, seed: int) -> EnvClassifier:
    """SGD on batches of ``batch_size`` from p plus as many from q; cosine per step from lr to swa_lr
    over the first ``swa_start`` epochs, then SWA (lr held at swa_lr); returns the SWA model with
    recomputed BN statistics, in eval mode. Trains on the device of ``xp`` (built on the CPU, moved)."""
    cfg = config
    device = xp.device
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = EnvClassifier(SmallCNN(tuple(xp.shape[1:]), cfg.width), num_classes, cfg.dim_z).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scaler = grad_scaler(device, cfg.precision)
    bs = min(cfg.batch_size, len(yp), len(yq))  # a small domain: one batch of all it has
    _check(bs >= 1, "no training samples on one side")
    steps = min(len(yp), len(yq)) // bs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps * cfg.swa_start), eta_min=cfg.swa_lr)
    swa = torch.optim.swa_utils.AveragedModel(model)
    e = torch.cat([torch.zeros(bs, dtype=torch.long), torch.ones(bs, dtype=torch.long)]).to(device)
    batches = []
    for epoch in range(1, cfg.epochs + 1):
        # drawn on the CPU (the same stream on every accelerator), used on the device
        pp, pq = (torch.randperm(n, generator=gen).to(device) for n in (len(yp), len(yq)))
        batches = []
        model.train()
        for i in range(steps):
            bp, bq = pp[i * bs:(i + 1) * bs], pq[i * bs:(i + 1) * bs]
            x, y = torch.cat([xp[bp], xq[bq]]), torch.cat([yp[bp], yq[bq]])
            batches.append((x, y))
            with autocast(device, cfg.precision):
                loss = F.cross_entropy(model(x, y)[1], e)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if epoch <= cfg.swa_start:
                sched.step()
            else:
                swa.update_parameters(model)
    out = swa.module
    _recompute_bn(out, batches)  # the last epoch's batches cover the whole "in" data once
    return out


@torch.no_grad()
def _features_and_accuracy(model: EnvClassifier, x: torch.Tensor, y: torch.Tensor, side: int,
                           chunk: int = 512) -> tuple[np.ndarray, float]:
    zs, correct = [], torch.zeros((), dtype=torch.long, device=x.device)
    for i in range(0, len(y), chunk):
        z, logits = model(x[i:i + chunk], y[i:i + chunk])
        zs.append(z)
        correct += (logits.argmax(1) == side).sum()
    return torch.cat(zs).double().cpu().numpy(), int(correct) / len(y)


# --- 3. densities and the two shifts ---------------------------------------------------------------

@dataclass
class Densities:
    """KDE values at the M importance samples z_m ~ r (the pooled KDE): r_m, p(z_m), q(z_m), and
    per kept class p(z_m|y), q(z_m|y) with its size n_y. Thresholds act on these, so calibration
    re-evaluates the sums only."""

    r: np.ndarray
    p: np.ndarray
    q: np.ndarray
    p_y: list[np.ndarray] = field(default_factory=list)
    q_y: list[np.ndarray] = field(default_factory=list)
    n_y: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # classes whose KDE failed


def estimate_densities(y_p: np.ndarray, z_p: np.ndarray, y_q: np.ndarray, z_q: np.ndarray, samples: int = 10_000,
                       seed: int = 0) -> Densities:
    """Standardize z on p and q together, fit the pooled KDE r, draw ``samples`` points from it and
    evaluate r, p, q and the per-class KDEs there (Scott bandwidth). Classes whose KDE fails (too few
    or degenerate points) are skipped with a warning."""
    from scipy.stats import gaussian_kde  # scipy.stats is slow to import: only when estimating

    y_p, y_q = np.asarray(y_p), np.asarray(y_q)
    check_balanced(y_p, y_q)
    z_all = np.concatenate([z_p, z_q])
    mean, std = z_all.mean(0), z_all.std(0)
    std[std == 0] = 1.0
    z_all, z_p, z_q = ((z - mean) / std for z in (z_all, z_p, z_q))
    try:
        pooled = gaussian_kde(z_all.T)
        points = pooled.resample(samples, seed=seed)
        d = Densities(pooled(points), gaussian_kde(z_p.T)(points), gaussian_kde(z_q.T)(points))
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise DatasetError(f"the KDE of the features failed ({exc}); use more samples or a lower dim_z") from None
    for c in np.unique(y_p):
        mp, mq = y_p == c, y_q == c
        try:
            d.p_y.append(gaussian_kde(z_p[mp].T)(points))
            d.q_y.append(gaussian_kde(z_q[mq].T)(points))
        except (np.linalg.LinAlgError, ValueError):
            del d.p_y[len(d.q_y):]
            d.skipped.append(int(c))
            warnings.warn(f"class {c}: the KDE failed on {int(mp.sum())} points per side (too few for "
                          f"{z_p.shape[1]} dimensions); skipped", ShiftMetricWarning, stacklevel=2)
            continue
        d.n_y.append(int(mp.sum()))
    return d


def diversity(p: np.ndarray, q: np.ndarray, r: np.ndarray, eps: float, formula: str = "current") -> float:
    """(1/2M) sum over samples where p < eps or q < eps of g(p, q) / r, with g = |p - q| (legacy)
    or (sqrt p - sqrt q)^2 (current): the mass on support that one side lacks, in [0, 1]."""
    m = (p < eps) | (q < eps)
    g = np.abs(p[m] - q[m]) if formula == "legacy" else (np.sqrt(p[m]) - np.sqrt(q[m])) ** 2
    return float(np.sum(g / r[m]) / (2 * len(r)))


def correlation(p: np.ndarray, q: np.ndarray, r: np.ndarray, p_y: Sequence[np.ndarray],
                q_y: Sequence[np.ndarray], n_y: Sequence[int], eps: float, formula: str = "current") -> float:
    """Per class y, (1/2M) sum over samples where p > eps and q > eps of h_y / r, with a = p(z|y)
    sqrt(q/p), b = q(z|y) sqrt(p/q) and h_y = |a - b| (legacy) or (sqrt a - sqrt b)^2 (current, the
    Hellinger form a + b - 2 sqrt(p(z|y) q(z|y))); averaged over classes weighted by n_y."""
    if not n_y:
        return float("nan")
    m = (p > eps) & (q > eps)
    ratio = np.sqrt(q[m] / p[m])
    total = 0.0
    for py, qy, n in zip(p_y, q_y, n_y):
        a, b = py[m] * ratio, qy[m] / ratio
        h = np.abs(a - b) if formula == "legacy" else (np.sqrt(a) - np.sqrt(b)) ** 2
        total += n * float(np.sum(h / r[m]) / (2 * len(r)))
    return total / sum(n_y)


# --- 4. calibration ---------------------------------------------------------------------------------

def bisect_threshold(f: Callable[[float], float], lo: float, hi: float, band: tuple[float, float], *,
                     increasing: bool, iters: int = 20) -> tuple[float, float, bool, int]:
    """Bisect eps in [lo, hi] until f(eps) lies in ``band`` (f monotone in eps). Returns (eps, f(eps),
    converged, iterations); when the band is out of reach, eps ends next to the bound nearest it."""
    eps = v = math.nan
    for i in range(1, iters + 1):
        eps = (lo + hi) / 2
        v = f(eps)
        if band[0] <= v <= band[1]:
            return eps, v, True, i
        if (v < band[0]) == increasing:
            lo = eps
        else:
            hi = eps
    return eps, v, False, iters


@dataclass
class Calibration:
    """Thresholds bisected so that the mean iid shifts (over the trials) lie in ``band``."""

    eps_div: float
    eps_cor: float
    iid_diversity: float
    iid_correlation: float
    converged: bool
    iterations: tuple[int, int]
    band: tuple[float, float]


def calibrate(iid: Sequence[Densities], config: ShiftMetricsConfig, formula: str | None = None) -> Calibration:
    """eps_div (diversity grows with it) and eps_cor (correlation falls with it) bisected on
    force-iid densities. Unreachable band: warn, keep the nearest thresholds, converged = False."""
    cfg, formula = config, formula or config.formula

    def f_div(eps: float) -> float:
        return float(np.mean([diversity(d.p, d.q, d.r, eps, formula) for d in iid]))

    def f_cor(eps: float) -> float:
        return float(np.mean([correlation(d.p, d.q, d.r, d.p_y, d.q_y, d.n_y, eps, formula) for d in iid]))

    ed, vd, okd, itd = bisect_threshold(f_div, *cfg.eps_div_range, cfg.band, increasing=True,
                                        iters=cfg.calibration_iters)
    ec, vc, okc, itc = bisect_threshold(f_cor, *cfg.eps_cor_range, cfg.band, increasing=False,
                                        iters=cfg.calibration_iters)
    if not (okd and okc):
        warnings.warn(f"calibration ({formula}) did not bring both iid shifts into {list(cfg.band)}: diversity "
                      f"{vd:.4g} at eps_div {ed:.3g}, correlation {vc:.4g} at eps_cor {ec:.3g}; measuring with "
                      "these thresholds", ShiftMetricWarning, stacklevel=2)
    return Calibration(ed, ec, vd, vc, okd and okc, (itd, itc), tuple(cfg.band))


# --- 5. the whole estimate ------------------------------------------------------------------------------

@dataclass
class Estimate:
    """One formula's figures: thresholds, per-trial diversity and correlation, the calibration."""

    formula: str
    eps_div: float
    eps_cor: float
    diversity: list[float]
    correlation: list[float]
    calibration: Calibration | None

    def to_dict(self) -> dict:
        def stats(v: list[float]) -> dict:
            return {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": [float(x) for x in v]}

        return {"formula": self.formula, "thresholds": {"eps_div": self.eps_div, "eps_cor": self.eps_cor},
                "diversity": stats(self.diversity), "correlation": stats(self.correlation),
                "calibration": None if self.calibration is None else asdict(self.calibration)}


@dataclass
class ShiftResult:
    """Diversity and correlation shift of one split, mean and std (population, ddof 0) over trials, for
    the configured formula (``estimate``) and, at no extra cost, the other one (``other``)."""

    suite: str
    split: str
    config: ShiftMetricsConfig
    estimate: Estimate
    other: Estimate
    per_trial: list[dict]  # seed, samples per side, env-classifier accuracy on held-out data, skipped classes
    seconds: float
    compute: dict | None = None  # accelerator, its name, torch and CUDA versions, precision
    caveat: str | None = None  # why the figures are rough (too few images), else None

    @property
    def calibrated(self) -> bool:
        return self.config.calibrate

    @property
    def diversity(self) -> tuple[float, float]:
        return float(np.mean(self.estimate.diversity)), float(np.std(self.estimate.diversity))

    @property
    def correlation(self) -> tuple[float, float]:
        return float(np.mean(self.estimate.correlation)), float(np.std(self.estimate.correlation))

    def to_dict(self) -> dict:
        out = {"suite": self.suite, "split": self.split, "backbone": self.config.backbone,
               "trials": self.config.trials, "seed": self.config.seed, "calibrated": self.calibrated}
        out.update(self.estimate.to_dict())
        out["other_formula"] = self.other.to_dict()
        out.update(per_trial=self.per_trial, config=asdict(self.config), compute=self.compute,
                   seconds=round(self.seconds, 2), caveat=self.caveat)
        return _json_safe(out)


def _json_safe(v):
    """NaN (no class left for the correlation) becomes None, so that the dict is valid JSON."""
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return None if isinstance(v, float) and math.isnan(v) else v


def _trial(x: torch.Tensor, y: torch.Tensor, n_p: int, num_classes: int, cfg: ShiftMetricsConfig, seed: int,
           force_iid: bool, embed_all: bool = False) -> tuple[Densities, dict]:
    """Balance, split, train the environment classifier, embed the held-out samples, fit the KDEs (x, y on
    the classifier's device). ``embed_all`` (too few images to hold any out) trains and embeds them all."""
    yn = y.cpu().numpy()
    sides = prepare_sides(yn[:n_p], yn[n_p:], seed, force_iid=force_iid, holdout_fraction=cfg.holdout_fraction,
                          max_per_class=cfg.max_per_class)
    (pin, pout), (qin, qout) = sides["p"], sides["q"]
    if embed_all:
        pin = pout = np.sort(np.concatenate([pin, pout]))
        qin = qout = np.sort(np.concatenate([qin, qout]))
    model = train_env_classifier(x[pin], y[pin], x[qin], y[qin], num_classes, cfg, _seed(seed, 6))
    z_p, acc_p = _features_and_accuracy(model, x[pout], y[pout], 0)
    z_q, acc_q = _features_and_accuracy(model, x[qout], y[qout], 1)
    dens = estimate_densities(yn[pout], z_p, yn[qout], z_q, cfg.samples, _seed(seed, 7))
    info = {"seed": seed, "per_side": len(pout) if embed_all else len(pin) + len(pout),
            "held_out_per_side": 0 if embed_all else len(pout),
            "env_accuracy": round((acc_p + acc_q) / 2, 4), "skipped_classes": dens.skipped}
    return dens, info


def measure_shift(data: DomainData | str, split: str | None = None, *, config: ShiftMetricsConfig | None = None,
                  progress: Progress | None = None) -> ShiftResult:
    """Diversity and correlation shift between the training (p) and test (q) domains of a split.

    Args:
        data: the loaded domains of a split, or a suite name (then ``split`` names the split).
        config: a :class:`ShiftMetricsConfig` (default: the CPU profile).
        progress: called with a one-line message at each stage.

    Example::

        data = load_split("digits-shift", "correlation", per_domain=300)  # seconds; fmnist-shift: a minute
        r = measure_shift(data, config=ShiftMetricsConfig(trials=2, epochs=2, swa_start=1, dim_z=2))
        r.diversity, r.correlation   # (mean, std) pairs; r.to_dict() has everything
    """
    cfg = config or ShiftMetricsConfig()
    device = resolve(cfg.accelerator)
    if isinstance(data, str):
        from archscout.data._load import load_split

        _check(split is not None, "a suite name needs a split name")
        data = load_split(data, split)
    say = progress or (lambda message: None)
    start = time.perf_counter()
    x, y = torch.cat([d.x for d in data.train + data.test]), torch.cat([d.y for d in data.train + data.test])
    x, y = x.to(device), y.to(device)  # resident for every trial
    n_p = sum(len(d) for d in data.train)
    seeds = [cfg.seed + t for t in range(cfg.trials)]
    yn = y.cpu().numpy()
    per_side = len(balance_classes(yn[:n_p], yn[n_p:], 0, cfg.max_per_class)[0])
    # a side's held-out features need dim_z + 2 points for its KDE: below that, few images (a small
    # folder): embed every image in fewer dimensions, and say that the figures are rough
    need = math.ceil((cfg.dim_z + 2) / cfg.holdout_fraction)
    embed_all = per_side < need
    caveat = None
    if embed_all:
        cfg = replace(cfg, dim_z=max(1, min(cfg.dim_z, per_side - 2)))
        caveat = (f"{per_side} images per side after balancing classes: too few to hold any out, so the KDEs use "
                  f"the classifier's own training images in {cfg.dim_z} dimension(s); the figures are rough "
                  f"(the estimate wants {need} or more per side)")
        warnings.warn(caveat, ShiftMetricWarning, stacklevel=2)

    def run(force_iid: bool) -> tuple[list[Densities], list[dict]]:
        out = []
        for t, s in enumerate(seeds):
            say(f"{'calibration (iid) ' if force_iid else ''}trial {t + 1}/{cfg.trials}: training the "
                f"environment classifier")
            out.append(_trial(x, y, n_p, data.num_classes, cfg, s, force_iid, embed_all))
        return [d for d, _ in out], [i for _, i in out]

    with fast_math(device):
        iid = run(True)[0] if cfg.calibrate else None
        dens, infos = run(False)
    say("estimating the shifts")

    def estimate(formula: str) -> Estimate:
        cal = calibrate(iid, cfg, formula) if iid is not None else None
        ed, ec = (cal.eps_div, cal.eps_cor) if cal else (cfg.eps_div, cfg.eps_cor)
        return Estimate(formula, ed, ec, [diversity(d.p, d.q, d.r, ed, formula) for d in dens],
                        [correlation(d.p, d.q, d.r, d.p_y, d.q_y, d.n_y, ec, formula) for d in dens], cal)

    other = "legacy" if cfg.formula == "current" else "current"
    with warnings.catch_warnings():  # warn about the formula asked for only
        warnings.simplefilter("ignore", ShiftMetricWarning)
        other_est = estimate(other)
    main_est = estimate(cfg.formula)
    return ShiftResult(data.name, data.split.name, cfg, main_est, other_est, infos, time.perf_counter() - start,
                       describe(device, cfg.precision), caveat)
