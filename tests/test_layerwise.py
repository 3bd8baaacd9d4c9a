"""Layer-wise parity both ways: a lossless int8 file passes every layer; one damaged layer --
scales reversed, an activation zero point shifted, two groups of a grouped conv swapped -- fails,
naming its block first; the row's parity fails with it while the logits' own verdict stays."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from resnext_bench.core.layerwise import TapStats, judge_layers
from resnext_bench.models.taps import block_inputs, tap_plan

ARCH = "resnext29_2x1d"  # 9 grouped bottlenecks at 32 px: the smallest ResNeXt with a stem
CLI = [sys.executable, "-m", "resnext_bench"]


# -- the metrics and the verdict (no model) ----------------------------------------------------
def test_verdict_fails_at_the_first_bad_layer_and_passes_a_faithful_one():
    rng = np.random.default_rng(0)
    ref = {n: rng.normal(size=(4, 8, 5, 5)) for n in ("stem", "layer1.0.branch", "layer1.0")}
    order = list(ref)

    def judged(outs, precision="int8"):
        stats = {}
        for name in order:
            stats.setdefault(name, TapStats()).add(ref[name], outs[name])
        return judge_layers(stats, order, precision)

    close = {n: v + 0.01 * rng.normal(size=v.shape) for n, v in ref.items()}
    ok = judged(close)
    assert ok.passed and ok.first_failure is None and len(ok.results) == 3
    broken = dict(close)
    broken["layer1.0.branch"] = ref["layer1.0.branch"][:, ::-1].copy()  # channels reversed
    broken["layer1.0"] = ref["layer1.0"] * 3.0  # fails too, but after the branch
    bad = judged(broken)
    assert not bad.passed
    assert bad.failure_text().startswith("layer1.0.branch cosine")
    assert "2 of 3 layers fail" in bad.failure_text()
    nan = dict(close, stem=np.full_like(ref["stem"], np.nan))
    assert judged(nan).first_failure.name == "stem"
    # the same 1 % error passes int8's tolerance and fails fp32's (float rounding only)
    assert not judged(close, "fp32").passed


def test_plan_names_the_model_modules():
    plan = tap_plan(ARCH)
    names = [t.name for t in plan]
    assert names[:4] == ["stem", "layer1.0.branch", "layer1.0", "layer1.1.branch"]
    assert "layer3" in names and names[-1] == "layer3"
    assert block_inputs(plan)[:2] == [("layer1.0", "stem"), ("layer1.1", "layer1.0")]
    assert [t.name for t in tap_plan("wrn10_1")][0] == "block1.0.branch"  # WRN: no stem tap


def test_layers_run_where_reduced_precision_or_asked(monkeypatch):
    from types import SimpleNamespace as NS

    from resnext_bench.bench.layer_parity import layers_skip_reason
    from resnext_bench.runtimes.registry import get_runtime_class

    def cfg(layers=None, onnx=None):
        return NS(parity=NS(layers=layers), export=NS(onnx=onnx))

    def combo(runtime, precision):
        return NS(runtime=runtime, precision=precision)

    monkeypatch.delenv("RESNEXT_BENCH_LAYERS", raising=False)  # the real default
    ort = get_runtime_class("ort-cpu")
    assert layers_skip_reason(cfg(), combo("ort-cpu", "int8"), ort) is None
    assert layers_skip_reason(cfg(), combo("ort-cpu", "fp32"), ort) == ""
    assert layers_skip_reason(cfg(onnx="x.onnx"), combo("ort-cpu", "fp32"), ort) is None
    assert layers_skip_reason(cfg(True), combo("ort-cpu", "fp32"), ort) is None
    assert layers_skip_reason(cfg(False), combo("ort-cpu", "int8"), ort) == ""
    compiled = get_runtime_class("torch-compile")
    assert "--layers runs it" in layers_skip_reason(cfg(), combo("torch-compile", "bf16"), compiled)
    assert layers_skip_reason(cfg(True), combo("torch-compile", "bf16"), compiled) is None
    trt = get_runtime_class("tensorrt")
    assert "intermediate tensors" in layers_skip_reason(cfg(True), combo("tensorrt", "fp16"), trt)
    monkeypatch.setenv("RESNEXT_BENCH_LAYERS", "off")  # a CI job's default; a flag still wins
    assert layers_skip_reason(cfg(), combo("ort-cpu", "int8"), ort) == ""
    assert layers_skip_reason(cfg(True), combo("ort-cpu", "int8"), ort) is None


# -- files: exported, quantized, damaged -------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from resnext_bench.config import QuantOptions
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    art = tmp_path_factory.mktemp("layer-art")
    fp32 = export_onnx(ExportConfig(arch=ARCH), art).path
    quant = QuantOptions(quantizer="ort", calib_images="builtin", calib_crops="on", calib_count=8,
                         quant_activations="uint8")
    int8 = export_onnx(ExportConfig(arch=ARCH, precision="int8"), art, quant=quant).path
    return {"art": art, "fp32": fp32, "int8": int8}


def _taps_record(path):
    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return json.loads(meta["resnext_bench.layer_taps"])


def test_export_writes_the_taps_and_int8_keeps_their_names(files):
    from resnext_bench.exporters.layer_taps import build_twin, find_taps
    from resnext_bench.core.fileio import file_digest

    plan = tap_plan(ARCH)
    fp32, int8 = _taps_record(files["fp32"]), _taps_record(files["int8"])
    assert fp32["taps"] == int8["taps"]
    assert set(fp32["taps"]) == {t.name for t in plan}
    assert "module paths" in fp32["source"]  # checked against the exporter's name_scopes
    # the quantized graph's structure finds the same tensors as the fp32 metadata names
    assert find_taps(onnx.load(str(files["int8"])), plan).tensors == fp32["taps"]
    twin = build_twin(files["int8"], file_digest(files["int8"]), plan, files["art"])
    assert not twin.unmatched
    graph = onnx.load(str(twin.path), load_external_data=False).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    exposed = [producers[twin.outputs[t.name]] for t in plan if t.kind == "branch"]
    assert set(exposed) == {"DequantizeLinear"}  # the value the int8 graph carries on


def _evaluate(path, art, x, model):
    from resnext_bench.bench.layer_parity import TappedRun, compare_layers
    from resnext_bench.core.fileio import file_digest
    from resnext_bench.exporters.layer_taps import build_twin
    from resnext_bench.runtimes.base import RuntimeOptions
    from resnext_bench.runtimes.registry import get_runtime_class

    plan = tap_plan(ARCH)
    twin = build_twin(path, file_digest(path), plan, art)
    run = TappedRun(get_runtime_class("ort-cpu"), RuntimeOptions(precision="int8", threads=1),
                    plan, twin=twin)
    try:
        stats, local, _, _ = compare_layers(run, model, plan, x, 8)
    finally:
        run.close()
    return judge_layers(stats, [t.name for t in plan], "int8", local=local)


DAMAGES = [("scales_reversed", "stem", None), ("scales_reversed", "layer1.0", 0),
           ("groups_swapped", "layer2.1", 4), ("zero_point_shifted", "layer3.2", 8)]


def test_lossless_int8_passes_and_each_damage_fails_naming_its_block(files, tmp_path):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from support.damage import branch_convs, damaged_copy, stem_conv

    from resnext_bench.models import build_model
    from resnext_bench.models.inputs import labeled_folder_images

    model = build_model(ARCH, cache_dir=files["art"])
    x, _ = labeled_folder_images("builtin", 32, limit=4)
    clean = _evaluate(files["int8"], files["art"], x, model)
    assert clean.passed, clean.failure_text()
    assert {r.basis for r in clean.results} == {"local", "end-to-end"}  # stem: end-to-end
    for damage, block, index in DAMAGES:
        dst = tmp_path / f"{damage}-{block}.onnx"
        conv_of = stem_conv if index is None else (lambda m, i=index: branch_convs(m, i)[1])
        damaged_copy(files["int8"], dst, damage, conv_of)
        verdict = _evaluate(dst, files["art"], x, model)
        assert not verdict.passed, (damage, block)
        first = verdict.first_failure.name
        assert first == block or first.startswith(block + "."), (damage, block, verdict.failure_text())


def _parity_cli(onnx_path, art, *extra):
    import os

    env = {k: v for k, v in os.environ.items() if k != "RESNEXT_BENCH_LAYERS"}  # the real default
    res = subprocess.run([*CLI, "parity", "--onnx", str(onnx_path), "--runtime", "ort-cpu",
                          "--images", "builtin", "--artifacts", str(art), "--threads", "1", *extra],
                         capture_output=True, text=True, timeout=600, env=env)
    return res, (json.loads(res.stdout)[0] if res.stdout.strip().startswith("[") else None)


def test_parity_row_fails_on_a_damaged_layer_and_names_it(files, tmp_path):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from support.damage import branch_convs, damaged_copy

    dst = tmp_path / "swapped.onnx"
    damaged_copy(files["int8"], dst, "groups_swapped", lambda m: branch_convs(m, 4)[1])
    res, row = _parity_cli(dst, files["art"], "--json")
    assert res.returncode == 1, res.stderr[-800:]
    assert row["parity_passed"] is False and row["parity_layers_passed"] is False
    assert row["parity_logits_passed"] in (True, False)  # the logits' verdict, kept beside
    assert row["parity_failed"][-1].startswith("layer2.1.branch ")
    assert row["parity_layers_compared"] == len(tap_plan(ARCH))
    assert len(row["parity_layers_profile"]) == row["parity_layers_compared"]


def test_a_user_file_without_taps_metadata_is_matched_by_structure_and_says_so(files, tmp_path):
    from resnext_bench.core.fileio import file_digest
    from resnext_bench.exporters.layer_taps import build_twin

    model = onnx.load(str(files["int8"]))
    keep = [p for p in model.metadata_props if p.key != "resnext_bench.layer_taps"]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    stripped = tmp_path / "no-taps.onnx"
    onnx.save(model, str(stripped))
    twin = build_twin(stripped, file_digest(stripped), tap_plan(ARCH), tmp_path)
    assert not twin.unmatched and len(twin.outputs) == len(tap_plan(ARCH))
    assert any("matched by the graph's structure" in n for n in twin.notes)
    # a plan the file does not hold (another arch): nothing matched, and said why
    other = build_twin(stripped, file_digest(stripped), tap_plan("resnext50_32x4d"), tmp_path)
    assert not other.outputs and len(other.unmatched) == len(tap_plan("resnext50_32x4d"))
    assert any("16 block(s)" in n for n in other.notes)


def test_parity_layers_prints_the_per_layer_table():
    from resnext_bench.core.layerwise import LayerResult, LayerVerdict, layer_tolerance
    from resnext_bench.core.schema import ResultRow
    from resnext_bench.reports.console import PARITY_COLUMNS, layer_profiles, rows_table

    verdict = LayerVerdict([LayerResult("stem", 0.9999, 0.01, 0.02, True),
                            LayerResult("layer1.0.branch", 0.42, 0.9, 1.1, False, ("cosine 0.42 < 0.985",),
                                        "local", 0.5, 0.8)], layer_tolerance("int8"), source="twin")
    row = ResultRow(arch=ARCH, form="c", runtime="ort-cpu", device="cpu", precision="int8", batch=1,
                    threads=None, image_size=32, status="ok",
                    parity_passed=False, parity_failed=[verdict.failure_text()], **verdict.to_row())
    table = rows_table([row], PARITY_COLUMNS)
    assert "FAIL layer1.0.branch" in table and "parity FAIL: layer1.0.branch cosine 0.42" in table
    profile = layer_profiles([row])
    assert "layer-wise FAIL (twin" in profile and "local" in profile and "e2e cos" in profile
    from resnext_bench.reports import plots, sections

    sec = sections.layers([row])
    assert sec.body[0][4] == "FAIL (2)" and sec.body[0][5].startswith("layer1.0.branch cosine 0.42")
    assert plots.layer_profile([row]).startswith(b"\x89PNG")

