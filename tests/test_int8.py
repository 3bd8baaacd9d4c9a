"""int8: the quantizers behind one interface (NNCF, ONNX Runtime), their recipes and cache keys,
the accuracy control (NNCF's and the bisection), and int8 tried wherever it has kernels."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from resnext_bench.config import QuantOptions
from resnext_bench.core.fileio import read_jsonl
from resnext_bench.core.schema import row_from_json

pytest.importorskip("nncf")


@pytest.fixture(scope="module")
def fp32_file(artifacts):
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    return export_onnx(ExportConfig("resnext29_2x4d"), artifacts).path


def tiny_onnx(path, size=16):
    """Conv-Relu-Conv-Relu-pool-Gemm, 3x16x16 -> 10: enough tensors to tell calibrations apart,
    seconds instead of a net's minutes for the 2048-bin entropy search."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], transB=1, name="fc")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [init("w1", 16, 3, 3, 3), init("b1", 16), init("w2", 16, 16, 3, 3), init("b2", 16),
         init("w3", 10, 16), init("b3", 10)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.add(key="resnext_bench.image_size", value=str(size))
    onnx.save(model, str(path))
    return path


def _initializers(path):
    model = onnx.load(str(path))
    return model, {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


# ------------------------------------------------------------------------------ quantizers
def test_the_quantizer_is_in_the_key_the_name_and_the_metadata(fp32_file, tmp_path):
    from resnext_bench.exporters.onnxfile import read_metadata
    from resnext_bench.exporters.quantize import quantize_onnx

    nncf = quantize_onnx(fp32_file, QuantOptions(calib_count=8), tmp_path)
    ort = quantize_onnx(fp32_file, QuantOptions(calib_count=8, quantizer="ort"), tmp_path)
    assert nncf.path != ort.path and "_int8_nncf_" in nncf.path.name and "_int8_ort_" in ort.path.name
    for res, who in ((nncf, "nncf"), (ort, "ort")):
        ops = {n.op_type for n in onnx.load(str(res.path)).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops and res.summary["qdq_nodes"] > 10
        meta = read_metadata(res.path)
        assert meta["resnext_bench.precision"] == "int8" and meta["resnext_bench.arch"] == "resnext29_2x4d"
        key = json.loads(meta["resnext_bench.quantization"])
        assert key["quantizer"] == who and key["fp32_sha256"] and key["count"] == 8
        assert res.summary["quantization"]["float_weighted_ops"] == 0  # every conv is int8
    assert nncf.summary["quantization"]["activations"] == "symmetric (PERFORMANCE preset)"
    assert ort.summary["quantization"]["activations"] == "uint8 asymmetric"  # auto: the CPU's U8S8
    assert quantize_onnx(fp32_file, QuantOptions(calib_count=8), tmp_path).cache_hit
    fewer = quantize_onnx(fp32_file, QuantOptions(calib_count=4), tmp_path)
    assert fewer.path != nncf.path


def test_the_ort_recipe_follows_the_isa():
    """Without VNNI the U8S8 kernels saturate: reduce_range, recorded and in the key."""
    from resnext_bench.exporters.quantizers import get_quantizer

    ort = get_quantizer("ort")
    avx2 = ort.recipe(QuantOptions(quantizer="ort"), ["avx2", "fma"])
    vnni = ort.recipe(QuantOptions(quantizer="ort"), ["avx2", "avx512f", "avx512_vnni"])
    s8 = ort.recipe(QuantOptions(quantizer="ort", quant_activations="int8"), ["avx2"])
    arm = ort.recipe(QuantOptions(quantizer="ort"), ["asimd"])
    assert avx2["reduce_range"] and "VNNI" in avx2["reduce_range_why"] and "7-bit" in avx2["weights"]
    assert not vnni["reduce_range"] and not s8["reduce_range"] and not arm["reduce_range"]


def test_reduce_range_writes_7_bit_weights(fp32_file, tmp_path):
    from resnext_bench.exporters.quantize import quantize_onnx

    q = QuantOptions(calib_count=4, quantizer="ort")
    narrow = quantize_onnx(fp32_file, q, tmp_path, flags=["avx2", "fma"])
    full = quantize_onnx(fp32_file, q, tmp_path, flags=["avx2", "avx512_vnni"])
    assert narrow.path != full.path  # the ISA's recipe is part of the key

    def widest_weight(path):
        model, inits = _initializers(path)
        weights = [n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"
                   and inits.get(n.input[0]) is not None and inits[n.input[0]].dtype == np.int8
                   and inits[n.input[0]].ndim == 4]
        return max(int(np.abs(inits[w].astype(np.int32)).max()) for w in weights)

    assert widest_weight(narrow.path) <= 64 < widest_weight(full.path)


def test_entropy_really_is_entropy_and_nncf_refuses_it(cli, tmp_path):
    """Through quantize_static the entropy calibrator had one threshold candidate (128 bins):
    bit-identical to minmax. With 2048 bins its activation scales differ."""
    from resnext_bench.exporters.quantize import quantize_onnx

    fp32_file = tiny_onnx(tmp_path / "tiny.onnx")

    def act_scales(path):
        model, inits = _initializers(path)
        return {n.input[0]: float(inits[n.input[1]]) for n in model.graph.node
                if n.op_type == "QuantizeLinear" and n.input[0] not in inits}

    minmax = act_scales(quantize_onnx(fp32_file, QuantOptions(calib_count=8, quantizer="ort"), tmp_path).path)
    entropy = act_scales(quantize_onnx(fp32_file, QuantOptions(calib_count=8, quantizer="ort",
                                                               calib_method="entropy"), tmp_path).path)
    shared = set(minmax) & set(entropy)
    assert len(shared) >= 3
    assert sum(entropy[t] < minmax[t] * 0.99 for t in shared) >= 2  # clipped ranges
    res = cli("quantize", "--onnx", fp32_file, "--out", tmp_path, "--calib-method", "entropy")
    assert res.exit_code == 2 and "nncf quantizer uses NNCF's own" in res.output


def test_int8_is_worth_trying_wherever_it_has_kernels():
    from resnext_bench.core.isa import precisions_worth_trying

    assert "int8" in precisions_worth_trying(["avx2", "fma"])  # AVX2-only Zen 3: measured 2x
    assert "AVX2, no VNNI" in precisions_worth_trying(["avx2", "fma"])["int8"]
    assert "VNNI" in precisions_worth_trying(["avx2", "avx512_vnni"])["int8"]
    assert "AMX" in precisions_worth_trying(["avx2", "amx_int8", "amx_bf16"])["int8"]
    assert "int8" not in precisions_worth_trying([])  # no int8 kernels known for this ISA
    assert "bf16" not in precisions_worth_trying(["avx2", "fma"])


# ------------------------------------------------------------------------------ rows and CLI
def test_int8_rows_say_which_quantizer_and_pass_on_what_they_keep(cli, fp32_file, artifacts, tmp_path):
    res = cli("bench", "--onnx", fp32_file, "--runtime", "ort-cpu", "--precision", "fp32,int8",
              "--quantizer", "nncf,ort", "--iters", 3, "--rounds", 1, "--warmup", 1,
              "--parity-images", 8, "--calib-count", 8, "--artifacts", artifacts,
              "--out", tmp_path / "run", "-q")
    assert res.exit_code in (0, 1), res.output
    rows = [row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]]
    int8 = {r.quantization["quantizer"]: r for r in rows if r.precision == "int8"}
    assert set(int8) == {"nncf", "ort"} and int8["ort"].settings["quantizer"] == "ort"
    assert "quantizer" not in int8["nncf"].settings  # the default quantizer
    # each quantizer's own default: NNCF's symmetric preset, ORT's U8S8 for the CPU kernels
    assert int8["nncf"].quantization["activations"] == "symmetric (PERFORMANCE preset)"
    assert int8["ort"].quantization["activations"] == "uint8 asymmetric"
    for r in int8.values():
        assert r.ok and r.onnx_precision == "int8" and f"_int8_{r.quantization['quantizer']}_" in r.onnx_path
        # reduced precisions are judged on the function and the decisions, not one logit's error
        assert r.parity_tolerance["rtol"] is None and r.parity_tolerance["min_cosine"] == 0.99
        assert r.parity_max_rel_err is not None
    assert "quantizer=ort" in res.output or "quantizer=ort" in (tmp_path / "run" / "results.jsonl").read_text()


def test_export_int8_from_the_cli(cli, fp32_file, artifacts):
    res = cli("export", "--arch", "resnext29_2x4d", "--precision", "int8", "--calib-count", 4,
              "--out", artifacts)
    assert res.exit_code == 0, res.output
    assert "_int8_nncf_s8_nncf_" in res.output and "int8 QDQ by nncf.quantize" in res.output
    assert "on 4 images (random crops of builtin:" in res.output  # photos by default


@pytest.mark.parametrize("make,msg", [
    (lambda p: p / "none", "no such directory"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no image files"),
])
def test_bad_calibration_folder_is_exit_2(cli, tmp_path, make, msg):
    folder = make(tmp_path)
    res = cli("export", "--arch", "resnext29_2x4d", "--precision", "int8", "--calib-images", folder,
              "--out", tmp_path / "out")
    assert res.exit_code == 2 and msg in res.stderr and res.stderr.startswith("error: --calib-images")
    res = cli("quantize", "--onnx", tmp_path / "missing.onnx")
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_quantize_command_calibrates_on_real_images(cli, fp32_file, tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    res = cli("quantize", "--onnx", fp32_file, "--calib-images", folder, "--out", tmp_path / "q", "--json")
    assert res.exit_code == 0, res.output
    q = json.loads(res.output)["quantization"]  # the count says what the calibration saw
    assert q["source"].startswith("images:") and q["count"] == 4 and q["asked_count"] == 32


def test_default_calibration_is_photo_crops_disjoint_from_parity(cli, fp32_file, artifacts, tmp_path):
    from resnext_bench.exporters.calibration import calibration_source

    assert calibration_source(QuantOptions()).startswith("random crops of builtin:")
    assert calibration_source(QuantOptions(calib_images="synthetic")) == "synthetic seed 777"
    res = cli("bench", "--onnx", fp32_file, "--runtime", "ort-cpu", "--precision", "int8",
              "--iters", 2, "--rounds", 1, "--warmup", 1, "--images", "builtin", "--calib-count", 8,
              "--artifacts", artifacts, "--out", tmp_path / "run", "-q")
    assert res.exit_code in (0, 1), res.output
    (row,) = [row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]]
    assert row.quantization["source"].startswith("random crops of builtin:")
    assert row.parity_inputs.startswith("builtin")  # the centre crops: not the calibration inputs


# ------------------------------------------------------------------------------ accuracy control
def _labeled(root, per_class=4):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("0", "1"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_nncf_accuracy_control_meets_a_drop_target_and_records_it(fp32_file, tmp_path):
    from resnext_bench.exporters.int8 import make_int8

    q = QuantOptions(calib_images=str(_labeled(tmp_path / "labeled")), calib_count=8, int8_target="drop:50")
    res = make_int8(fp32_file, q, tmp_path / "out")
    ac = res.summary["quantization"]["accuracy_control"]
    assert ac["library"] == "nncf.quantize_with_accuracy_control" and ac["drop_type"] == "absolute"
    assert ac["target"] == {"drop": 50.0} and ac["measured"]["drop"] <= 50.0
    assert ac["control"].startswith("labeled centre crops of images:") and ac["control_images"] == 8
    assert ac["float_nodes"] == res.summary["quantization"]["float_weighted_ops"]
    again = make_int8(fp32_file, q, tmp_path / "out")
    assert again.cache_hit and again.path == res.path


def test_an_unreachable_target_is_exit_2_naming_the_best_reached(cli, fp32_file, tmp_path):
    for quantizer in ("nncf", "ort"):
        res = cli("quantize", "--onnx", fp32_file, "--out", tmp_path / quantizer, "--calib-count", 4,
                  "--quantizer", quantizer, "--int8-target", "cosine:0.999999", "--int8-max-float", "0.05")
        assert res.exit_code == 2, (quantizer, res.output)
        assert "best reached" in res.output or "reached cosine" in res.output, res.output
        assert "Traceback" not in res.output


def test_the_bisection_meets_a_target_plain_int8_misses_and_caches_it(fp32_file, tmp_path):
    from resnext_bench.exporters.int8 import make_int8

    q = QuantOptions(calib_count=8, quantizer="ort", int8_target="cosine:0.9999")
    res = make_int8(fp32_file, q, tmp_path)
    fb = res.summary["quantization"]["fallback"]
    steps = {s["float_nodes"]: s for s in fb["steps"]}
    assert steps[0]["met"] is False  # plain int8 misses a 0.9999 cosine
    chosen = len(fb["float_nodes"])
    assert chosen > 0 and steps[chosen]["met"] and steps[chosen]["cosine"] >= 0.9999
    assert all(not s["met"] for k, s in steps.items() if k < chosen)  # the fewest tried that meet it
    assert res.summary["quantization"]["float_nodes"] == chosen
    assert fb["measured"]["cosine"] >= 0.9999
    again = make_int8(fp32_file, q, tmp_path)
    assert again.path == res.path and again.cache_hit


def test_bad_or_unlabeled_targets_are_exit_2(cli, fp32_file, tmp_path):
    from resnext_bench.core.parity import parse_int8_target

    assert parse_int8_target("drop:1%") == {"rdrop": 1.0}
    assert parse_int8_target("drop:0.5") == {"drop": 0.5}
    res = cli("quantize", "--onnx", fp32_file, "--out", tmp_path, "--int8-target", "speed:2")
    assert res.exit_code == 2 and "int8 target" in res.output
    bad = cli("quantize", "--onnx", fp32_file, "--out", tmp_path, "--int8-target", "drop:1")
    assert bad.exit_code == 2 and "needs a labeled calibration folder" in bad.output


def test_the_report_has_an_int8_section_and_dry_run_says_why_int8_is_in(cli, tmp_path):
    """The committed side-by-side run renders its int8 section (quantizer, speed-ups within the
    run); a dry run names why each precision is in and which quantizer makes the file."""
    from pathlib import Path

    run = Path(__file__).resolve().parents[1] / "reports" / "cpu" / "int8-quantizers" / "bench-run"
    res = cli("report", run, "--format", "md", "--out", tmp_path / "r.md")
    assert res.exit_code == 0, res.output
    text = (tmp_path / "r.md").read_text()
    section = text[text.index("<summary>int8</summary>"):]
    assert "nncf (nncf.quantize (ONNX backend) 3." in section and "vs ORT fp32" in section
    dry = cli("bench", "--arch", "resnet18", "--image-size", 32, "--runtime", "ort-cpu",
              "--precision", "fp32,int8", "--quantizer", "nncf,ort", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "precision int8: int8 kernels (" in dry.output and "int8 file by nncf, ort" in dry.output


def test_a_quantizer_is_described_once_and_no_code_branches_on_its_name(monkeypatch):
    """Issue 45: a quantizer's facts live on its class (file tag, export flags, whether it
    controls accuracy itself, whether 'auto' activations follow the runtime); the rest of the
    code asks it. A new quantizer registered here is re-created by its own flags."""
    import ast
    from pathlib import Path

    from resnext_bench.core.schema import ResultRow
    from resnext_bench.exporters import quantizers
    from resnext_bench.reports.deploy import export_command

    class Fake(quantizers.Quantizer):
        name, library, package = "fake", "fake.quantize", "fake"

        def file_tag(self, recipe):
            return "fk"

        def cli_args(self, q):
            return ["--calib-count", "7"] if q.get("special") else []

    monkeypatch.setitem(quantizers.QUANTIZERS, "fake", Fake())
    row = ResultRow(arch="resnet18", form="c", runtime="ort-cpu", device="cpu", precision="int8",
                    batch=1, threads=1, image_size=32, status="ok", onnx_path="/a/m_int8.onnx",
                    quantization={"quantizer": "fake", "special": True, "count": 8, "asked_count": 8})
    assert "--quantizer fake --calib-count 7" in export_command(row)
    ort = dict(row.quantization, quantizer="ort", method="entropy", activations="int8 symmetric")
    assert "--quantizer ort --calib-method entropy --quant-activations int8" in export_command(
        ResultRow(**{**row.__dict__, "quantization": ort}))
    assert quantizers.get_quantizer("ort").activations_follow_runtime
    assert not quantizers.get_quantizer("nncf").activations_follow_runtime
    assert quantizers.get_quantizer("nncf").file_tag({"method": "x"}) == "nncf"
    # nowhere outside quantizers.py is a quantizer's name compared with
    names = set(quantizers.QUANTIZERS) - {"fake"}
    src = Path(quantizers.__file__).parents[1]
    offenders = []
    for path in src.rglob("*.py"):
        if path.name == "quantizers.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                text = ast.unparse(node)
                if any(c in names for c in consts) and "quantiz" in text:
                    offenders.append(f"{path.relative_to(src)}:{node.lineno}: {text}")
    assert not offenders, offenders
