"""The artifact passed forward: the prepare process makes and verifies each ONNX file once, the
measuring workers load it as it is, and intermediate files stay in the artifacts cache."""

from __future__ import annotations

import worker_faults
from conftest import run_config
from resnext_bench.bench.plan import combos
from resnext_bench.bench.runner import Runner


def test_measuring_workers_never_export_hash_or_check_again(artifacts, tmp_path):
    """With exporting, hashing and the ONNX checker made to raise inside every measuring worker
    (and each respawn: two processes), the rows still measure: the workers loaded the verified
    artifact they were given. The row's artifact fields are the prepare step's."""
    config = run_config(archs="wrn10_1", runtimes="ort-cpu", precisions="fp32,int8",
                        image_sizes=32, warmup=1, iters=4, rounds=2, processes=2,
                        parity_images=4, calib_count=4, artifacts=str(artifacts))
    rows = Runner(config, tmp_path, worker_target=worker_faults.refuses_to_reverify).run(
        combos(config, strict=True))
    ran = [r for r in rows if r.status != "skipped"]
    assert ran and all(r.ok for r in ran), [(r.runtime, r.precision, r.error) for r in ran]
    for r in ran:
        assert r.onnx_sha256 and r.onnx_bytes and r.onnx_precision == r.precision
        assert r.params and r.macs and r.flops == 2 * r.macs  # the export's own count
        assert r.processes == 2 and r.parity_passed is not None


def test_export_out_holds_only_the_file_asked_for(cli, artifacts, tmp_path):
    """A form-a export is rewritten from the form-c graph, an int8 one quantized from the fp32
    file: those intermediates go to --artifacts, --out gets the file asked for (and its
    sidecar), nothing else."""
    for args in (["--form", "a"], ["--precision", "int8", "--calib-count", "4"]):
        out = tmp_path / args[1]
        res = cli("export", "--arch", "resnext29_2x4d", *args, "--out", out, "--artifacts", artifacts)
        assert res.exit_code == 0, res.output
        files = sorted(p.name for p in out.iterdir())
        onnx = [f for f in files if f.endswith(".onnx")]
        assert len(onnx) == 1 and files == sorted([onnx[0], onnx[0][:-5] + ".json"]), files
        assert (f"_{args[1]}_" in onnx[0]) if args[0] == "--form" else "int8" in onnx[0]
