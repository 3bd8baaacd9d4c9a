"""Reduced-precision verdicts fail for the right reason and pass for the right reason: an int8
file damaged in two realistic ways fails, on the default weights and on a trained network,
while the undamaged file passes -- with the verdict functions every row uses."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from resnext_bench.config import QuantOptions
from resnext_bench.core.parity import (DEFAULT_TOLERANCES, accuracy_fields, accuracy_misses,
                                       compare_logits)

pytest.importorskip("nncf")


def wrong_weight_scale(src, dst, factor=3.0):
    """One layer's weight scale off (a per-channel scale read for the wrong channel order, a
    calibration file from another model): the second Conv's weight DequantizeLinear scale x3."""
    model = onnx.load(str(src))
    inits = {t.name: t for t in model.graph.initializer}
    produced = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"
             and produced.get(n.input[1]) is not None and produced[n.input[1]].op_type == "DequantizeLinear"]
    dq = produced[convs[1].input[1]]
    scale = inits[dq.input[1]]
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * np.float32(factor), scale.name))
    onnx.save(model, str(dst))
    return dst


def shifted_zero_point(src, dst, shift=24):
    """An activation's zero point shifted in its DequantizeLinear only (Q and DQ out of step, as
    when a tool rewrites one of the pair): every value of that tensor moves by shift x scale."""
    model = onnx.load(str(src))
    inits = {t.name: t for t in model.graph.initializer}
    dqs = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in inits
           and len(n.input) > 2 and n.input[2] in inits]
    dq = dqs[1]
    zp = numpy_helper.to_array(inits[dq.input[2]])
    info = np.iinfo(zp.dtype)
    new = np.clip(zp.astype(np.int32) + shift, info.min, info.max).astype(zp.dtype)
    name = dq.input[2] + "_shifted"
    model.graph.initializer.append(numpy_helper.from_array(new, name))
    dq.input[2] = name
    onnx.save(model, str(dst))
    return dst


def verdict(ref, out, labels=None):
    tol = DEFAULT_TOLERANCES["int8"]
    res = compare_logits(ref, out, tol)
    missed = list(res.failures)
    if labels is not None:
        missed += accuracy_misses(accuracy_fields(ref, out, labels), tol)
    return not missed, missed, res


@pytest.fixture(scope="module")
def default_net(artifacts):
    """A default-weights ImageNet net (calibration v4), its int8 file by the default quantizer,
    and the built-in photos with the fp32 file's logits."""
    from resnext_bench.exporters.calibration import ort_outputs
    from resnext_bench.exporters.int8 import make_int8
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
    from resnext_bench.models.inputs import folder_images

    fp32 = export_onnx(ExportConfig("resnet18", image_size=64), artifacts).path
    q = make_int8(fp32, QuantOptions(calib_count=16), artifacts).path
    x = folder_images("builtin", 64)
    return q, x, ort_outputs(fp32, x), None


@pytest.fixture(scope="module")
def trained_net(artifacts, tmp_path_factory):
    """A small net trained on scikit-learn's digits (99.7 % held out, 6 s), exported from its
    checkpoint file (--weights PATH) and quantized on the training split."""
    import torch

    from resnext_bench.exporters.calibration import ort_outputs
    from resnext_bench.exporters.int8 import make_int8
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
    from resnext_bench.models.digits import load_split, train
    from resnext_bench.models.nets import build_module
    from resnext_bench.models.spec import parse_arch

    spec = parse_arch("wrn10_1")
    torch.manual_seed(0)
    model = build_module(spec)
    record = train(model, spec, 0, epochs=6)
    assert record["heldout_top1"] >= 0.9, record
    ckpt = tmp_path_factory.mktemp("trained") / "wrn10_1-digits.pt"
    torch.save(model.state_dict(), ckpt)
    fp32 = export_onnx(ExportConfig("wrn10_1", weights=str(ckpt)), artifacts).path
    q = make_int8(fp32, QuantOptions(calib_images="digits-train", calib_count=64), artifacts).path
    x, y = load_split("heldout")
    return q, x, ort_outputs(fp32, x), y


@pytest.mark.parametrize("net", ["default_net", "trained_net"])
def test_lossless_int8_passes_and_damaged_files_fail(net, request, tmp_path):
    from resnext_bench.exporters.calibration import ort_outputs

    qfile, x, ref, labels = request.getfixturevalue(net)
    ok, missed, res = verdict(ref, ort_outputs(qfile, x), labels)
    assert ok, (net, missed)
    assert res.top1_agreement >= 0.9 and res.cosine >= 0.99
    if labels is not None:  # the trained net keeps its accuracy: MLPerf's 99 % and then some
        acc = accuracy_fields(ref, ort_outputs(qfile, x), labels)
        assert acc["accuracy_top1_drop"] <= 0.5, acc
    for damage in (wrong_weight_scale, shifted_zero_point):
        bad = damage(qfile, tmp_path / f"{damage.__name__}.onnx")
        ok, missed, res = verdict(ref, ort_outputs(bad, x), labels)
        assert not ok, (net, damage.__name__, res)
        assert any(m.startswith(("cosine", "top1", "accuracy")) for m in missed), missed


def test_a_damaged_file_fails_its_row_end_to_end(cli, default_net, artifacts, tmp_path):
    """The same damage through `parity --onnx`: the row fails, with the criterion named."""
    qfile = default_net[0]
    bad = wrong_weight_scale(qfile, tmp_path / "bad.onnx")
    args = ("--runtime", "ort-cpu", "--precision", "int8", "--images", "builtin", "--artifacts", artifacts)
    good = cli("parity", "--onnx", qfile, *args)
    assert good.exit_code == 0, good.output
    res = cli("parity", "--onnx", bad, *args)
    assert res.exit_code == 1 and "parity FAIL" in res.output, res.output
    assert "cosine" in res.output or "top1_agreement" in res.output


def test_max_rel_err_gates_fp32_only():
    """One logit's worst error says nothing about the function: reduced precisions report it;
    fp32, which must match to rounding, is gated by it."""
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((16, 10)) * 3
    ref[np.arange(16), rng.integers(0, 10, 16)] += 12  # confident, as a trained net
    out = ref.copy()
    out[0, 0] += 0.3 * np.abs(ref).max()  # one logit far off, the decisions and function kept
    assert compare_logits(ref, out, DEFAULT_TOLERANCES["int8"]).passed
    fp32 = compare_logits(ref, out, DEFAULT_TOLERANCES["fp32"])
    assert not fp32.passed and "max_rel_err" in fp32.failures[0]
    labels = ref.argmax(1)
    worse = ref.copy()
    worse[:2] = np.roll(worse[:2], 1, axis=1)  # 2 of 16 decisions lost: 12.5 points
    assert accuracy_misses(accuracy_fields(ref, worse, labels), DEFAULT_TOLERANCES["int8"])
    assert not accuracy_misses(accuracy_fields(ref, worse, labels), DEFAULT_TOLERANCES["fp32"])
