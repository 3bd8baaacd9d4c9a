"""Default weights in the trained-network regime (calibration v3), the trained reference on
scikit-learn's digits, accuracy on labeled folders, and verdicts that explain themselves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from resnext_bench.core.fileio import read_jsonl
from resnext_bench.core.parity import DEFAULT_TOLERANCES, accuracy_fields, compare_logits
from resnext_bench.core.schema import row_from_json

sklearn = pytest.importorskip("sklearn", reason="the digits reference needs scikit-learn")


@pytest.fixture(autouse=True)
def _digits_cache(tmp_path_factory, monkeypatch):
    """The digits folders go to a per-session cache, not the user's ~/.cache."""
    monkeypatch.setenv("RESNEXT_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "rb-cache"))


# ------------------------------------------------------------------------- calibration v4
def test_v4_keeps_small_residual_branches_and_varied_predictions(artifacts):
    import torch

    from resnext_bench.models import build_model
    from resnext_bench.models.blocks import BasicBlock
    from resnext_bench.models.versions import CALIBRATION_VERSION
    from resnext_bench.models.weights import RESIDUAL_GAMMA

    assert CALIBRATION_VERSION == 4
    model = build_model("resnet18", cache_dir=artifacts)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    assert all(torch.allclose(b.bn2.weight, torch.full_like(b.bn2.weight, RESIDUAL_GAMMA)) for b in blocks)


def test_v4_is_confident_on_photos_like_a_trained_net(artifacts):
    """The issue's figures on a small ResNeXt-50 relative: on the photos and their crops the
    median top-1 probability >= 0.6 and the median top-1/top-2 gap >= 1 logit std (v3: 0.28
    and 0.17 on resnext50_32x4d); >= 12 / 8 / 6 distinct classes over 16 photos, smooth and
    white noise (resnext50_32x4d itself: reports/cpu/default-weights/summary.md)."""
    import torch

    from resnext_bench.models import build_model
    from resnext_bench.models.weights import prediction_spread

    model = build_model("resnext50_2x8d", cache_dir=artifacts)
    with torch.no_grad():
        spread = prediction_spread(model, 96)
    for kind in ("photos", "photo crops"):
        assert spread[kind]["median_top1_prob"] >= 0.6, (kind, spread[kind])
        assert spread[kind]["median_gap_std"] >= 1.0, (kind, spread[kind])
    for kind, least in (("photos", 12), ("smooth noise", 8), ("white noise", 6)):
        assert spread[kind]["distinct_top1"] >= least, (kind, spread[kind])
    for kind, s in spread.items():
        assert 1.0 <= s["logit_std"] <= 10.0, (kind, s)


def test_v4_reduced_precision_is_in_the_trained_regime(artifacts):
    """bf16 on the built-in photos: the targets of the default-weights issue (the v2 weights
    missed them by far on the deeper nets: cosine 0.90 on resnext50_32x4d)."""
    import torch

    from resnext_bench.models import build_model
    from resnext_bench.models.inputs import folder_images

    model = build_model("resnext50_2x8d", cache_dir=artifacts)  # a small ResNeXt-50 relative
    x = torch.from_numpy(folder_images("builtin", 64))
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x).float()
    res = compare_logits(ref.numpy(), low.numpy(), DEFAULT_TOLERANCES["bf16"])
    assert res.cosine >= 0.999 and res.top1_agreement >= 0.9, res


def test_fp16_export_check_passes_on_default_weights(cli, artifacts, tmp_path):
    res = cli("export", "--arch", "resnext29_2x4d", "--precision", "fp16", "--out", artifacts, "--json")
    assert res.exit_code == 0, res.output
    checks = json.loads(res.output)["checks"]
    assert "ort" in json.dumps(checks).lower()


# ------------------------------------------------------------------------- trained reference
def test_digits_folders_are_labeled_disjoint_and_complete():
    from resnext_bench.models.digits_data import HELDOUT, digits_folder
    from resnext_bench.models.imagefiles import labeled_classes, labeled_image_files

    held, train = digits_folder("heldout"), digits_folder("train")
    assert labeled_classes(held) == [str(d) for d in range(10)]
    h, t = labeled_image_files(held), labeled_image_files(train)
    assert len(h) == HELDOUT and len(t) == 1797 - HELDOUT
    assert not {p.name for p, _ in h} & {p.name for p, _ in t}  # file names are dataset indices
    assert [k for _, k in h[:10]] == list(range(10))  # round-robin over the classes
    assert digits_folder("heldout") == held  # written once


def test_training_is_deterministic_and_learns():
    import torch

    from resnext_bench.models.digits import train
    from resnext_bench.models.nets import build_module
    from resnext_bench.models.spec import parse_arch

    spec = parse_arch("wrn10_1")  # the smallest CIFAR net: determinism needs no width
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_module(spec)
        record = train(model, spec, 0, epochs=2, limit=200)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert record["heldout_images"] == 397 and record["train_images"] == 200
    # a short run checks determinism only; the full run's >= 95 % held-out top-1 is recorded by
    # benchmarks/reduced_precision.py (reports/cpu/default-weights/)
    assert len(record["epoch_losses"]) == 2 and all(np.isfinite(record["epoch_losses"]))


def test_trained_weights_refuse_an_imagenet_arch(cli, artifacts):
    res = cli("parity", "--arch", "resnet18", "--image-size", 32, "--runtime", "torch",
              "--weights", "digits", "--artifacts", artifacts)
    assert res.exit_code == 2 and "10-class CIFAR-family" in res.output and "Traceback" not in res.output


# ------------------------------------------------------------------------- accuracy
def test_accuracy_fields_and_paired_bootstrap():
    labels = np.array([0, 1, 2, 3] * 25)
    ref = np.eye(4)[labels] * 5.0
    out = ref.copy()
    out[:10] = np.roll(out[:10], 1, axis=1)  # 10 of 100 now wrong
    acc = accuracy_fields(ref, out, labels)
    assert acc["accuracy_ref_top1"] == 1.0 and acc["accuracy_top1"] == 0.9
    assert acc["accuracy_top1_drop"] == pytest.approx(10.0)
    lo, hi = acc["accuracy_top1_drop_ci"]
    assert lo <= 10.0 <= hi and hi - lo < 15
    assert acc["accuracy_top5"] == 1.0 and acc["accuracy_images"] == 100
    same = accuracy_fields(ref, ref, labels)
    assert same["accuracy_top1_drop"] == 0 and same["accuracy_top1_drop_ci"] == [0.0, 0.0]


def _labeled_folder(root, classes=("cat", "dog"), per_class=3):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_labeled_folder_gives_accuracy_columns(cli, artifacts, tmp_path):
    folder = _labeled_folder(tmp_path / "labeled")
    res = cli("bench", "--arch", "resnet18", "--image-size", 32, "--runtime", "torch,ort-cpu",
              "--images", folder, "--iters", 2, "--rounds", 1, "--warmup", 1,
              "--artifacts", artifacts, "--out", tmp_path / "run")
    assert res.exit_code in (0, 1), res.output
    assert "acc" in res.output and "drop pt" in res.output
    rows = [row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]]
    for r in rows:
        assert r.accuracy_images == 6 and r.accuracy_top1 is not None
        assert r.accuracy_ref_top1 is not None and len(r.accuracy_top1_drop_ci) == 2
        assert r.parity_weights.startswith("default (calibration v4")
    plain = cli("parity", "--arch", "resnet18", "--image-size", 32, "--runtime", "torch",
                "--images", "builtin", "--artifacts", artifacts)
    assert plain.exit_code == 0, plain.output
    assert "acc" not in plain.output.split("\n")[0]


def test_recommend_constrains_on_accuracy_drop():
    from resnext_bench.reports.recommend import recommend

    from support.rows import deploy_row as _row

    fast = _row(runtime="openvino", precision="int8", latency_p50_ms=1.0, latency_p99_ms=1.2,
                accuracy_top1=0.95, accuracy_ref_top1=0.98, accuracy_top1_drop=3.0,
                accuracy_top1_drop_ci=[1.5, 4.5])
    slow = _row(runtime="ort-cpu", precision="fp32", latency_p50_ms=5.0, latency_p99_ms=6.0,
                accuracy_top1=0.98, accuracy_ref_top1=0.98, accuracy_top1_drop=0.0,
                accuracy_top1_drop_ci=[0.0, 0.0])
    bare = _row(runtime="torch", precision="bf16", latency_p50_ms=0.5, latency_p99_ms=0.6)
    rows = [fast, slow, bare]
    assert recommend(rows)["winner"]["runtime"] == "torch"
    res = recommend(rows, max_accuracy_drop=0.5)
    assert res["winner"]["runtime"] == "ort-cpu"
    excl = res["recommendations"][0]["excluded"]
    assert excl == {"no accuracy measured (needs a labeled --images folder)": 1,
                    "top-1 accuracy drop > 0.5 points": 1}
    assert res["winner"]["accuracy"]["top1_drop_points"] == 0.0


def test_recommend_rejects_a_bad_accuracy_drop(cli, tmp_path):
    res = cli("recommend", tmp_path, "--max-accuracy-drop", "nan")
    assert res.exit_code == 2 and "max-accuracy-drop" in res.output


# ------------------------------------------------------------------------- verdicts
def test_a_fail_names_its_criterion_threshold_and_distance():
    ref = np.random.default_rng(0).standard_normal((8, 10))
    out = ref + 0.8 * np.random.default_rng(1).standard_normal((8, 10))
    res = compare_logits(ref, out, DEFAULT_TOLERANCES["fp16"])
    assert not res.passed and res.failures
    text = "; ".join(res.failures)
    assert "max_rel_err" not in text  # reported, not gated, for the reduced precisions
    assert "cosine" in text and "< 0.999 (short by" in text and "top1_agreement" in text
    fp32 = compare_logits(ref, out, DEFAULT_TOLERANCES["fp32"])
    assert "max_rel_err" in fp32.failures[0] and "> 0.001" in fp32.failures[0] and "x the limit" in fp32.failures[0]
    assert res.to_row()["parity_failed"] == list(res.failures)
    ok = compare_logits(ref, ref, DEFAULT_TOLERANCES["fp32"])
    assert ok.passed and ok.to_row()["parity_failed"] is None


def test_export_passes_every_quant_flag(cli, artifacts):
    """`export --quant-activations` crashed with a TypeError (the flags were split by prefix)."""
    res = cli("export", "--arch", "resnext29_2x4d", "--precision", "int8", "--quant-activations",
              "uint8", "--calib-count", 4, "--out", artifacts)
    assert res.exit_code == 0, res.output
    assert "asymmetric (MIXED preset)" in res.output  # NNCF's preset for uint8 activations
    res = cli("export", "--arch", "resnext29_2x4d", "--precision", "int8", "--quant-activations",
              "uint8", "--quantizer", "ort", "--calib-count", 4, "--out", artifacts)
    assert res.exit_code == 0 and "uint8 asymmetric" in res.output, res.output
