import numpy as np
import pytest

from archscout.exceptions import ArchscoutError
from archscout.hardware._predictors import (evaluate, get_predictor, list_predictors, op_counts, structure_features,
                                            used_ops)
from archscout.spaces import get_space

OPS = get_space("nb201").ops_table.astype(np.int64)


def test_additive_recovers_planted_table():
    rng = np.random.default_rng(0)
    table = rng.uniform(0.1, 2.0, (6, 5))
    table[:, 0] = 0.0
    idx = rng.choice(len(OPS), 200, replace=False)
    y = 0.7 + table[np.arange(6), OPS[idx]].sum(1)
    for method in ("nnls", "ridge"):
        m = get_predictor("additive", method=method, alpha=0.0).fit(OPS[idx], y)
        np.testing.assert_allclose(m.table, table, atol=1e-8)
        assert m.intercept == pytest.approx(0.7)
        np.testing.assert_allclose(m.predict(OPS[:50]), 0.7 + table[np.arange(6), OPS[:50]].sum(1))


def test_nan_latencies_are_dropped_and_arch_forms_accepted():
    y = 1.0 + OPS[:100].sum(1).astype(float)
    y[::3] = np.nan
    m = get_predictor("linear").fit([int(i) for i in range(100)], y)
    ok = np.isfinite(y)
    np.testing.assert_allclose(m.predict(OPS[:100])[ok], y[ok], atol=1e-8)


def test_evaluate_known_vectors():
    r = evaluate([1.0, 2.0, 4.0, 10.0], [1.04, 2.16, 3.0, 10.0])
    assert r["spearman"] == pytest.approx(1.0)
    assert r["kendall"] == pytest.approx(1.0)
    assert r["within_5pct"] == pytest.approx(0.5)   # 4% and 0%
    assert r["within_10pct"] == pytest.approx(0.75)  # + 8%; 25% is out
    r = evaluate([1.0, 2.0, 3.0, np.nan], [3.0, 2.0, 1.0, 5.0])
    assert r["spearman"] == pytest.approx(-1.0) and r["kendall"] == pytest.approx(-1.0)


def test_flops_baseline_is_exact_on_flops_linear_latency():
    f = get_predictor("flops").flops
    y = 0.02 * f + 1.5
    m = get_predictor("flops").fit(OPS[:30], y[:30])
    assert (m.a_, m.b_) == pytest.approx((0.02, 1.5))
    np.testing.assert_allclose(m.predict(OPS[1000:1100]), y[1000:1100])


def test_gbm_fits_and_ranks():
    rng = np.random.default_rng(1)
    table = rng.uniform(0.1, 1.0, (6, 5))
    y = 1.0 + table[np.arange(6), OPS].sum(1)
    tr = rng.choice(len(OPS), 100, replace=False)
    r = evaluate(y, get_predictor("gbm").fit(OPS[tr], y[tr]).predict(OPS))
    assert r["spearman"] > 0.95


def test_structure_features_of_a_known_cell():
    sp = get_space("nb201")
    # node1 = conv3(x0); node2 = conv1(x0) + pool(x1); node3 = skip(x0) + none(x1) + none(x2)
    ops = np.array([sp.ops_table[sp.index(sp.parse(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|"))]])
    f = structure_features(ops)[0]
    # per source node: any conv, any pool, any skip, any none, number of convs
    assert f[:15].tolist() == [1, 0, 1, 0, 2, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0]
    # live inputs of nodes 1, 2, 3 (one-hot over 0..node): nodes 1 and 2 feed only `none` edges, so
    # they are on no input-output path: 0; 0; 1 (the skip)
    assert f[15:].tolist() == [1, 0, 1, 0, 0, 0, 1, 0, 0]


def test_structure_learns_what_one_hot_cannot():
    rng = np.random.default_rng(4)
    table = rng.uniform(0.1, 1.0, (6, 5))
    relus = sum(np.isin(OPS[:, [k for k, s in enumerate((0, 0, 1, 0, 1, 2)) if s == src]], (2, 3)).any(1)
                for src in range(3))  # a ReLU per node that some convolution reads, shared by them
    y = 1.0 + table[np.arange(6), OPS].sum(1) + 0.8 * relus
    tr = rng.choice(len(OPS), 100, replace=False)
    within = {name: evaluate(y, get_predictor(name).fit(OPS[tr], y[tr]).predict(OPS))["within_5pct"]
              for name in ("linear", "structure")}
    assert within["structure"] > 0.99 > within["linear"]


def test_fewshot_beats_scratch_on_two_devices():
    rng = np.random.default_rng(2)
    known = np.exp(rng.normal(0, 0.5, (6, 5)))
    nonadd = np.exp(0.4 * rng.normal(size=len(OPS)))  # per-arch effect no one-hot can learn
    ref = (1.0 + known[np.arange(6), OPS].sum(1)) * nonadd
    target = 2.0 * ref ** 0.9 * np.exp(0.01 * rng.normal(size=len(OPS)))
    tr = rng.choice(len(OPS), 20, replace=False)
    few = get_predictor("fewshot", reference=ref[:, None]).fit(OPS[tr], target[tr])
    scratch = get_predictor("additive", method="ridge", alpha=1e-2).fit(OPS[tr], target[tr])
    s_few = evaluate(target, few.predict(OPS))["spearman"]
    s_scratch = evaluate(target, scratch.predict(OPS))["spearman"]
    assert s_few > 0.95 and s_few > s_scratch + 0.1


def test_errors():
    with pytest.raises(ArchscoutError, match="4 training archs with a latency; needs at least 5"):
        get_predictor("linear").fit(OPS[:4], np.ones(4))
    with pytest.raises(ArchscoutError, match="9 training archs with a latency; needs at least 10"):
        y = np.full(40, np.nan)
        y[:9] = 1.0
        get_predictor("stacked").fit(OPS[:40], y)
    with pytest.raises(ArchscoutError, match="unknown latency predictor 'xgb'"):
        get_predictor("xgb")
    with pytest.raises(ArchscoutError, match="not fitted"):
        get_predictor("gbm").predict(OPS[:2])
    with pytest.raises(ArchscoutError, match="one latency per arch"):
        get_predictor("flops").fit(OPS[:5], np.ones(4))
    assert set(list_predictors()) == {"linear", "additive", "gbm", "structure", "flops", "fewshot", "stacked"}


def test_stacked_leans_on_the_model_that_generalizes():
    rng = np.random.default_rng(3)
    ref = np.exp(rng.normal(size=len(OPS)))  # latency no one-hot model can learn; the reference device knows it
    target = 3.0 * ref
    tr = rng.choice(len(OPS), 60, replace=False)
    m = get_predictor("stacked", reference=ref[:, None]).fit(OPS[tr], target[tr])
    assert m.weights["fewshot"] > 0.9 and sum(m.weights.values()) == pytest.approx(1.0)
    assert evaluate(target, m.predict(OPS))["spearman"] > 0.99
    plain = get_predictor("stacked").fit(OPS[tr], target[tr])  # no reference: blends the one-hot models only
    assert set(plain.weights) == {"linear", "additive", "gbm", "structure"}


def _planted(seed):
    """A latency no one-hot model can fit: an additive table times a per-arch factor."""
    rng = np.random.default_rng(seed)
    table = np.exp(rng.normal(0, 1.0, (6, 5)))
    return (1.0 + table[np.arange(6), OPS].sum(1)) * np.exp(0.1 * rng.normal(size=len(OPS)))


def test_every_predictor_fits_from_20_archs():
    y = _planted(5)
    tr = np.random.default_rng(0).choice(len(OPS), 20, replace=False)
    ref = {"reference": (y * np.exp(0.05 * np.random.default_rng(1).normal(size=len(OPS))))[:, None]}
    for name in list_predictors():
        kw = ref if name == "fewshot" else {}
        pred = get_predictor(name, **kw).fit(OPS[tr], y[tr]).predict(OPS)
        assert pred.shape == (len(OPS),) and np.isfinite(pred).all(), name
        if name != "flops":  # the baseline cannot fit a per-(edge, op) table
            assert evaluate(y, pred)["spearman"] > 0.4, name  # far better than chance (about 0 +- 0.01)
    lin = get_predictor("linear").fit(OPS[tr], y[tr])
    assert lin.method_.startswith("ridge")  # 20 archs do not determine its 25 parameters
    assert get_predictor("linear").fit(OPS[:40], y[:40]).method_ == "least squares"
    assert get_predictor("gbm").fit(OPS[tr], y[tr]).gbm_ is None  # too few archs to boost on


def test_used_ops_drop_what_reaches_no_output():
    sp = get_space("nb201")
    # node1 = none(x0); node2 = conv3(node1) + skip(x0); node3 = skip(x0) + none(node1) + none(node2):
    # the conv feeds only `none` edges (dropped), although its input is zero it would still run if used
    arch = sp.parse("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|")
    assert used_ops(np.array([arch.ops]))[0].tolist() == [0, 0, 0, 1, 0, 0]
    arch = sp.parse("|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    # node1 is all zeros, but the convs reading it reach the output: they run
    assert used_ops(np.array([arch.ops]))[0].tolist() == [0, 0, 3, 1, 2, 3]
    assert op_counts(np.array([arch.ops]))[0].tolist() == [1, 1, 2, 0]


def test_fewshot_on_a_planted_device_beats_flops():
    """A device that is a scaled, noised copy of a known one: few-shot from 20 archs finds it, FLOPs cannot."""
    from archscout.hardware import get_cost_model

    bench = get_cost_model("nb201", "cifar10")
    known = np.stack([bench.column(c) for c in ("raspi4_latency", "fpga_latency", "1080ti_latency_bs1")], axis=1)
    rng = np.random.default_rng(7)
    target = 3.0 * known[:, 0] * np.exp(0.03 * rng.normal(size=len(OPS)))
    tr = rng.choice(len(OPS), 20, replace=False)
    few = get_predictor("fewshot", reference=known).fit(OPS[tr], target[tr])
    flops = get_predictor("flops", flops=bench.column("flops")).fit(OPS[tr], target[tr])
    s_few = evaluate(target, few.predict(OPS))["spearman"]
    s_flops = evaluate(target, flops.predict(OPS))["spearman"]
    assert s_few > 0.97 and s_few > s_flops + 0.05, (s_few, s_flops)
    assert sum(few.weights.values()) == pytest.approx(1.0) and few.weights["flops"] < 0.5


def test_fewshot_reference_never_holds_the_target_device():
    from archscout.hardware import fewshot_reference

    rng = np.random.default_rng(0)
    cols = {m: np.exp(rng.normal(size=50)) for m in ("gpu_latency_bs1", "gpu_latency_bs32", "cpu_latency",
                                                      "phone_latency", "phone_latency_predicted", "flops")}
    cols["copy_latency"] = cols["cpu_latency"].copy()  # the same device under another name
    cols["partial_latency"] = np.where(np.arange(50) < 10, 1.0, np.nan)  # not every arch: no prior

    class Bench:
        metrics = tuple(cols)

        def column(self, m):
            return cols[m]

    assert fewshot_reference(Bench(), "gpu_latency_bs1")[0] == ["cpu_latency", "phone_latency", "copy_latency"]
    names, ref = fewshot_reference(Bench(), "cpu_latency")
    assert names == ["gpu_latency_bs1", "gpu_latency_bs32", "phone_latency"] and ref.shape == (50, 3)
    np.testing.assert_array_equal(ref[:, 2], cols["phone_latency"])
    assert fewshot_reference(Bench(), "copy_latency")[0] == names
    assert fewshot_reference(Bench(), "cpu_latency", among=["phone_latency", "cpu_latency"])[0] == ["phone_latency"]
