"""Cross-check resnext-bench's own model definitions against torchvision, where it imports.

For each arch: build torchvision's model (seeded init), save its state dict to a file, load that
file with ``--weights`` semantics into resnext-bench's model, and compare logits on seeded inputs
(fp32, TF32 off, on the GPU when there is one); then export the loaded model to ONNX with the
project's exporter and compare ONNX Runtime's logits (CUDA provider when usable, else CPU)
with torchvision's. Writes a JSON record; exit 1 when anything disagrees.

torchvision does not import beside this project's CPU torch, so on the project's CPU machines
this prints why and exits 0 with nothing checked; ``scripts/gpu-check.sh`` runs it on the lent
GPU machines, which have torchvision.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ARCHS = ("resnet50", "resnext50_32x4d")
RTOL = 1e-4  # max |err| / max |ref| for fp32 with TF32 off


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--out", default=None, help="write the JSON record here")
    args = ap.parse_args()
    try:
        import torchvision
    except Exception as exc:  # ImportError, or torchvision's operator registration failing
        print(f"torchvision does not import here ({type(exc).__name__}: {str(exc)[:120]}): nothing checked")
        return 0
    import numpy as np
    import torch

    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
    from resnext_bench.models import build_model
    from resnext_bench.models.inputs import synthetic_images
    from resnext_bench.runtimes.ort_cuda import ort_gpu_status
    from resnext_bench.runtimes.torch_eager import fp32_ieee

    device = "cuda" if torch.cuda.is_available() else "cpu"
    restore = fp32_ieee(torch)
    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    cuda_ok, cuda_reason = ort_gpu_status("CUDAExecutionProvider")
    provider = "CUDAExecutionProvider" if cuda_ok else "CPUExecutionProvider"
    record = {"torchvision": torchvision.__version__, "torch": torch.__version__, "device": device,
              "onnxruntime_provider": provider, "ort_cuda_reason": cuda_reason, "archs": {}}
    x = synthetic_images(4, 224, 99)
    ok_all = True
    for arch in args.archs.split(","):
        torch.manual_seed(0)
        tv = getattr(torchvision.models, arch)(weights=None).eval()
        path = artifacts / f"torchvision-{arch}-seed0.pth"
        torch.save(tv.state_dict(), path)
        ours = build_model(arch, weights=str(path), cache_dir=artifacts)
        with torch.no_grad():
            ref = tv.to(device)(torch.from_numpy(x).to(device)).cpu().double().numpy()
            mine = ours.to(device)(torch.from_numpy(x).to(device)).cpu().double().numpy()
        scale = float(np.abs(ref).max()) or 1.0
        torch_rel = float(np.abs(mine - ref).max()) / scale
        exp = export_onnx(ExportConfig(arch, weights=str(path)), artifacts)
        import onnxruntime as ort

        sess = ort.InferenceSession(str(exp.path), providers=[provider])
        onnx_out = sess.run(None, {"input": x})[0].astype(np.float64)
        onnx_rel = float(np.abs(onnx_out - ref).max()) / scale
        same_top1 = bool((onnx_out.argmax(1) == ref.argmax(1)).all() and (mine.argmax(1) == ref.argmax(1)).all())
        ok = torch_rel <= RTOL and onnx_rel <= RTOL and same_top1
        ok_all &= ok
        record["archs"][arch] = {"torch_max_rel_err": torch_rel, "onnx_max_rel_err": onnx_rel,
                                 "top1_equal": same_top1, "onnx_sha256": exp.summary["sha256"],
                                 "ok": ok}
        print(f"{arch}: resnext-bench vs torchvision (torch, {device}) max rel err {torch_rel:.2e}; "
              f"ONNX on {provider} max rel err {onnx_rel:.2e}; top-1 equal {same_top1} -> "
              f"{'ok' if ok else 'MISMATCH'}")
    restore()
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
