import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from resnext_bench.core.complexity import onnx_complexity, torch_complexity
from resnext_bench.core.errors import UsageError
from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
from resnext_bench.exporters.onnxfile import read_metadata
from resnext_bench.models import build_model
from resnext_bench.models.inputs import synthetic_images


@pytest.fixture(scope="module")
def r18(tmp_path_factory, artifacts):
    """A fresh export in a dir of its own (the weights cache is shared, the ONNX cache not), so
    "not a cache hit" holds whatever ran before."""
    out = tmp_path_factory.mktemp("r18")
    if (artifacts / "weights").is_dir():  # reuse calibrated weights: only the export is new
        (out / "weights").symlink_to(artifacts / "weights", target_is_directory=True)
    return export_onnx(ExportConfig("resnet18", image_size=64), out)


def test_export_checked_file(r18):
    assert r18.path.is_file() and not r18.cache_hit
    model = onnx.load(str(r18.path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param and not dim0.HasField("dim_value")  # dynamic batch
    checks = r18.summary["checks"]["ort_cpu_vs_torch"]
    assert [c["batch"] for c in checks] == [1, 3] and all(c["passed"] for c in checks)
    assert r18.summary["macs"] == r18.summary["torch_macs"]


def test_metadata(r18):
    meta = read_metadata(r18.path)
    assert meta["resnext_bench.arch"] == "resnet18"
    assert meta["resnext_bench.exporter"] == "dynamo"
    assert meta["resnext_bench.config_hash"] == r18.summary["config_hash"]
    for k in ("cardinality", "width", "form", "seed", "torch_version"):
        assert f"resnext_bench.{k}" in meta


def test_cache_hit_and_rebuild(r18):
    artifacts = r18.path.parent
    again = export_onnx(ExportConfig("resnet18", image_size=64), artifacts)
    assert again.cache_hit and again.path == r18.path
    # a damaged cached file fails its check and is rebuilt
    data = bytearray(r18.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    r18.path.write_bytes(bytes(data))
    rebuilt = export_onnx(ExportConfig("resnet18", image_size=64), artifacts)
    assert not rebuilt.cache_hit
    onnx.checker.check_model(str(rebuilt.path), full_check=True)
    # a different config is a different file
    other = export_onnx(ExportConfig("resnet18", image_size=64, seed=1), artifacts)
    assert other.path != r18.path


def test_runs_on_ort_at_any_batch(r18):
    sess = ort.InferenceSession(str(r18.path), providers=["CPUExecutionProvider"])
    for n in (1, 2, 5):
        out = sess.run(None, {"input": synthetic_images(n, 64, 1)})[0]
        assert out.shape == (n, 1000)


def test_static_batch_and_fp16(artifacts):
    static = export_onnx(ExportConfig("resnet18", image_size=64, batch=2), artifacts)
    dims = onnx.load(str(static.path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 2
    assert static.summary["macs"] == static.summary["torch_macs"]  # MACs are per image
    half = export_onnx(ExportConfig("resnet18", image_size=64, precision="fp16"), artifacts)
    m = onnx.load(str(half.path))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert m.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert half.summary["bytes"] < 0.6 * static.summary["bytes"]


def test_torchscript_exporter(artifacts):
    res = export_onnx(ExportConfig("wrn10_1", exporter="torchscript", opset=17), artifacts)
    assert read_metadata(res.path)["resnext_bench.exporter"] == "torchscript"
    assert res.summary["macs"] == res.summary["torch_macs"]


def test_graph_complexity_matches_torch_for_split_form(artifacts):
    res = export_onnx(ExportConfig("resnext29_2x8d", form="a"), artifacts)
    model = build_model("resnext29_2x8d", form="a")
    assert onnx_complexity(res.path, 32).macs == torch_complexity(model, 32).macs
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    x = synthetic_images(4, 32, 2)
    import torch
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(sess.run(None, {"input": x})[0] - ref).max() < 1e-3 * np.abs(ref).max()


def test_forms_a_b_rewritten_from_form_c_equal_it(artifacts):
    """Forms a/b are built from the checked form-c graph with onnx (seconds instead of minutes
    through the torch exporter): C branches per block, the same MACs and weights, the same
    outputs as form c on ONNX Runtime, and as the torch form-a/b modules."""
    import torch

    arch, size, groups = "resnext50_4x8d", 64, 4
    files = {f: export_onnx(ExportConfig(arch, form=f, image_size=size), artifacts) for f in "cab"}
    x = synthetic_images(3, size, 5)
    outs = {}
    for f, res in files.items():
        model = onnx.load(str(res.path))
        meta = read_metadata(res.path)
        assert meta["resnext_bench.form"] == f
        convs3x3 = [n for n in model.graph.node if n.op_type == "Conv"
                    and list(next(a.ints for a in n.attribute if a.name == "kernel_shape")) == [3, 3]]
        groups_of = {next((a.i for a in n.attribute if a.name == "group"), 1) for n in convs3x3}
        if f == "c":
            assert groups_of == {groups} and len(convs3x3) == 16  # one grouped 3x3 per block
        else:
            assert groups_of == {1} and len(convs3x3) == 16 * groups
            assert res.summary["built_from"]["sha256"] == files["c"].summary["sha256"]
            assert meta["resnext_bench.built_from"] == files["c"].summary["sha256"]
            assert {"Sum": "a", "Concat": "b"}[next(n.op_type for n in model.graph.node
                                                    if n.op_type in ("Sum", "Concat"))] == f
        assert onnx_complexity(model, size).macs == onnx_complexity(str(files["c"].path), size).macs
        sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
        outs[f] = sess.run(None, {"input": x})[0]
        with torch.no_grad():
            ref = build_model(arch, form=f, cache_dir=artifacts)(torch.from_numpy(x)).numpy()
        assert np.abs(outs[f] - ref).max() < 1e-4 * np.abs(ref).max(), f
    for f in "ab":
        assert np.abs(outs[f] - outs["c"]).max() < 1e-4 * np.abs(outs["c"]).max()
        assert (outs[f].argmax(1) == outs["c"].argmax(1)).all()


def test_form_rewrite_refuses_an_unexpected_graph(artifacts):
    from resnext_bench.exporters.forms import FormRewriteError, split_forms

    res = export_onnx(ExportConfig("resnext29_2x4d"), artifacts)
    model = onnx.load(str(res.path))
    assert len(split_forms(model, "b", 9).graph.node) > len(model.graph.node)
    with pytest.raises(FormRewriteError, match="9 bottleneck chains"):
        split_forms(model, "a", 10)


@pytest.mark.parametrize("kw,msg", [
    (dict(arch="resnet18", image_size=16), "too small"),
    (dict(arch="resnet18", precision="int4"), "precision"),
    (dict(arch="resnet18", opset=3), "opset"),
    (dict(arch="resnet18", weights="/nonexistent.pth"), "no such file"),
    (dict(arch="resnext50_32x0d"), "bad arch"),
])
def test_bad_configs(kw, msg):
    with pytest.raises(UsageError, match=msg):
        ExportConfig(**kw).validate()


def test_export_cli_json(cli, tmp_path):
    """First export builds, the second identical one is a cache hit; --json prints the summary."""
    runs = []
    for _ in range(2):
        res = cli("export", "--arch", "wrn10_1", "--out", tmp_path, "--json", "--seed", 3)
        assert res.exit_code == 0, res.output
        runs.append(json.loads(res.output))
    assert [r["cache_hit"] for r in runs] == [False, True]
    assert runs[0]["path"] == runs[1]["path"] and runs[0]["sha256"] == runs[1]["sha256"]
    for k in ("path", "opset", "params", "macs", "bytes", "export_seconds", "exporter", "checks",
              "config_hash", "form", "seed"):
        assert k in runs[1]
    assert runs[1]["seed"] == 3 and runs[1]["opset"] == 18


@pytest.mark.parametrize("exporter,opset", [("torchscript", 11), ("dynamo", 20)])
def test_written_file_imports_the_opset_asked_for(artifacts, exporter, opset):
    """The file's own opset_import says what --opset said (the name and sidecar say it too)."""
    res = export_onnx(ExportConfig("wrn10_1", exporter=exporter, opset=opset), artifacts)
    model = onnx.load(str(res.path), load_external_data=False)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    assert f"_op{opset}_" in res.path.name and res.summary["opset"] == opset


def test_opset_the_exporter_cannot_write_is_refused(cli, tmp_path):
    """The dynamo exporter writes opset >= 18; below that onnx's converter is tried and a graph it
    cannot convert is one line, exit 2 -- never a file labelled with an opset it does not have."""
    res = cli("export", "--arch", "wrn10_1", "--opset", "13", "--out", tmp_path / "o")
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: --opset 13") and "--exporter torchscript" in res.stderr
    assert not list((tmp_path / "o").glob("*.onnx"))
