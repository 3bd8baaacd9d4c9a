"""Layer-wise parity shown both ways: undamaged files pass, single-layer damages fail.

    python benchmarks/layerwise_damage.py --arch resnext50_32x4d --images builtin \\
        --out reports/cpu/layerwise/resnext50_32x4d
    python benchmarks/layerwise_damage.py --arch resnext29_2x8d --weights digits --images digits \\
        --parity-images 256 --out reports/cpu/layerwise/digits

Measures, on the same parity inputs and the same fp32 torch reference (forward hooks):

1. the undamaged files -- int8 by NNCF and by ONNX Runtime's quantizer (ort-cpu), bf16 on
   OpenVINO and torch, fp16 on ONNX Runtime -- each layer's cosine and relative RMS error, and
   the logits' verdict;
2. the NNCF int8 file with each residual branch conv (conv2, the grouped 3x3, and conv3, the 1x1
   expansion, of every block) damaged by its per-channel weight scales reversed: how many fail
   the logit verdict and how many the layer-wise one, and which layer it names first;
3. the stem, an early, a middle and the last block damaged each of three ways (scales reversed,
   an activation zero point shifted, two groups of the grouped conv swapped).

Writes ``record.json`` (every figure, the machine and versions) and ``summary.md``. The
thresholds of ``resnext_bench.core.layerwise.LAYER_TOLERANCES`` are read from these records.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.damage import branch_convs, damaged_copy, stem_conv  # noqa: E402

from resnext_bench.config import QuantOptions  # noqa: E402
from resnext_bench.bench.layer_parity import TappedRun, compare_layers  # noqa: E402
from resnext_bench.core.layerwise import judge_layers  # noqa: E402
from resnext_bench.core.parity import compare_logits, tolerance_for  # noqa: E402
from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx  # noqa: E402
from resnext_bench.models import build_model, parse_arch  # noqa: E402
from resnext_bench.models.inputs import labeled_folder_images  # noqa: E402
from resnext_bench.models.taps import tap_plan  # noqa: E402
from resnext_bench.runtimes.base import RuntimeOptions  # noqa: E402
from resnext_bench.runtimes.registry import check_available, get_runtime_class  # noqa: E402

CHUNK = 8


def evaluate(runtime, precision, model, x, plan, *, onnx_path=None, module=None, twins=None,
             threads=2):
    """One file (or module) on one runtime: the logits' verdict and the layer-wise one, by the
    same code a bench row runs (:mod:`resnext_bench.bench.layer_parity`)."""
    from resnext_bench.core.fileio import file_digest
    from resnext_bench.exporters.layer_taps import build_twin

    cls = get_runtime_class(runtime)
    options = RuntimeOptions(precision=precision, batch=1, threads=threads, cache_dir=twins)
    t0 = time.perf_counter()
    twin = build_twin(onnx_path, file_digest(onnx_path), plan, twins) if onnx_path else None
    run = TappedRun(cls, options, plan, module=module, twin=twin)
    key = run.rt.parity_tolerance_key()
    try:
        stats, local, logits, _ = compare_layers(run, model, plan, x, CHUNK)
    finally:
        run.close()
    verdict = judge_layers(stats, [t.name for t in plan], key, local=local)
    par = compare_logits(reference_logits(model, x), logits, tolerance_for(key))
    lowest = min(verdict.results, key=lambda r: r.cosine)
    return {"runtime": runtime, "precision": precision, "tolerance_key": key,
            "logits": {"passed": par.passed, "cosine": round(par.cosine, 6),
                       "top1_agreement": par.top1_agreement, "failed": list(par.failures)},
            "layers": {"passed": verdict.passed, "first_failure": verdict.failure_text(),
                       "worst_rel_rms": verdict.worst.compact(), "lowest_cosine": lowest.compact(),
                       "compared": len(verdict.results)},
            "profile": [r.compact() for r in verdict.results],
            "seconds": round(time.perf_counter() - t0, 2)}


_LOGITS = {}


def reference_logits(model, x):
    import torch

    if id(x) not in _LOGITS:
        with torch.inference_mode():
            _LOGITS[id(x)] = np.concatenate([model(torch.from_numpy(x[i:i + CHUNK])).numpy()
                                             for i in range(0, len(x), CHUNK)])
    return _LOGITS[id(x)]


def machine():
    from resnext_bench.bench.env import capture_env

    env = capture_env()
    keep = [f for f in env["cpu_flags"] if f.startswith(("avx", "amx")) or f in ("fma", "f16c")]
    vers = {k: v for k, v in (env.get("packages") or {}).items()
            if k in ("torch", "onnxruntime", "openvino", "nncf", "onnx") and v}
    return {"cpu": env["cpu"], "isa": sorted(keep), "cpus": env["cpu_count"],
            "versions": {"python": env["python"], **vers, **(env.get("onnxruntime_packages") or {})}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--images", default="builtin")
    ap.add_argument("--parity-images", type=int, default=None)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-branch-sweep", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = parse_arch(args.arch)
    size = spec.default_image_size
    plan = tap_plan(spec)
    blocks = [t.block for t in plan if t.kind == "block"]
    t_start = time.perf_counter()
    fp32 = export_onnx(ExportConfig(arch=args.arch, weights=args.weights), args.artifacts).path
    calib = args.images if args.images != "digits" else "digits-train"
    files = {}
    for q in ("nncf", "ort"):
        quant = QuantOptions(quantizer=q, calib_images=calib, calib_crops="on" if calib == args.images else "off",
                             quant_activations="uint8" if q == "ort" else "auto")
        files[q] = export_onnx(ExportConfig(arch=args.arch, weights=args.weights, precision="int8"),
                               args.artifacts, quant=quant).path
    fp16 = export_onnx(ExportConfig(arch=args.arch, weights=args.weights, precision="fp16"), args.artifacts).path
    x, _labels = labeled_folder_images(args.images, size, limit=args.parity_images)
    model = build_model(args.arch, weights=args.weights, cache_dir=args.artifacts)
    twins = Path(tempfile.mkdtemp(prefix="twins-"))
    record = {"arch": args.arch, "weights": args.weights or "default (calibrated, seed 0)",
              "images": args.images, "parity_images": int(len(x)), "machine": machine(),
              "undamaged": [], "branch_sweep": [], "damages": []}
    ev = dict(model=model, x=x, plan=plan, twins=twins)
    undamaged = [("ort-cpu", "int8", files["nncf"], "int8 NNCF"), ("ort-cpu", "int8", files["ort"], "int8 ORT quantize_static"),
                 ("openvino", "int8", files["nncf"], "int8 NNCF"), ("openvino", "bf16", fp32, "bf16 (OpenVINO from the fp32 file)"),
                 ("ort-cpu", "fp16", fp16, "fp16 file"), ("torch", "bf16", None, "bf16 torch eager")]
    for runtime, precision, path, label in undamaged:
        ok, why = check_available(runtime)
        if not ok:
            record["undamaged"].append({"label": label, "runtime": runtime, "skipped": why})
            continue
        cls = get_runtime_class(runtime)
        problem = cls.precision_problem(precision)
        if problem:
            record["undamaged"].append({"label": label, "runtime": runtime, "skipped": problem})
            continue
        try:
            # torch: a module of its own (the runtime deep-copies it; the reference's hooks stay behind)
            module = build_model(args.arch, weights=args.weights, cache_dir=args.artifacts) if path is None else None
            r = evaluate(runtime, precision, onnx_path=path, module=module, **ev)
        except Exception as exc:  # noqa: BLE001 -- recorded as what happened
            r = {"runtime": runtime, "precision": precision, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        r["label"] = label
        record["undamaged"].append(r)
        print(label, runtime, json.dumps(r.get("layers") or r.get("error")), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="damaged-"))
    if not args.skip_branch_sweep:
        for bi, block in enumerate(blocks):
            for ci, conv in ((1, "conv2"), (2, "conv3")):
                dst = tmp / f"{block}_{conv}.onnx"
                what = damaged_copy(files["nncf"], dst, "scales_reversed", lambda m: branch_convs(m, bi)[ci])
                r = evaluate("ort-cpu", "int8", onnx_path=dst, **ev)
                r.update(block=block, conv=conv, damage="scales_reversed", what=what)
                r["damaged_branch"] = next(p for p in r.pop("profile") if p["layer"] == f"{block}.branch")
                record["branch_sweep"].append(r)
                dst.unlink()
                print(block, conv, r["logits"]["passed"], r["layers"]["first_failure"], flush=True)
    picks = {"stem": None, "early": 0, "middle": len(blocks) // 2, "last": len(blocks) - 1}
    for where, bi in picks.items():
        for damage in ("scales_reversed", "zero_point_shifted", "groups_swapped"):
            if bi is None and damage == "groups_swapped":
                continue  # the stem conv is not grouped
            dst = tmp / f"{where}_{damage}.onnx"
            conv_of = stem_conv if bi is None else (lambda m, bi=bi: branch_convs(m, bi)[1])
            try:
                what = damaged_copy(files["nncf"], dst, damage, conv_of)
            except ValueError as exc:
                record["damages"].append({"where": where, "damage": damage, "skipped": str(exc)})
                continue
            r = evaluate("ort-cpu", "int8", onnx_path=dst, **ev)
            name = "stem" if bi is None else f"{blocks[bi]}.branch"
            r["damaged_layer"] = next(p for p in r.pop("profile") if p["layer"] == name)
            r.update(where=where, block="stem" if bi is None else blocks[bi], damage=damage, what=what)
            record["damages"].append(r)
            dst.unlink()
            print(where, damage, r["logits"]["passed"], r["layers"]["first_failure"], flush=True)
    record["seconds"] = round(time.perf_counter() - t_start, 1)
    (out / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    (out / "summary.md").write_text(summary(record))
    print(summary(record))


def summary(rec) -> str:
    m = rec["machine"]
    lines = [f"# Layer-wise parity, both ways: {rec['arch']}, weights {rec['weights']}, "
             f"{rec['parity_images']} {rec['images']} images", "",
             f"Machine: {m['cpu']}, {m['cpus']} CPUs, ISA {' '.join(m['isa'])}; versions "
             f"{', '.join(f'{k} {v}' for k, v in m['versions'].items())}. {rec['seconds']} s.", "",
             "## Undamaged files (every layer must pass)", "",
             "| file | runtime | logits | layers | lowest cosine (layer) | largest rel RMS (layer) |",
             "|---|---|---|---|---|---|"]
    for r in rec["undamaged"]:
        if "layers" not in r:
            lines.append(f"| {r['label']} | {r['runtime']} | - | {r.get('skipped') or r.get('error')} | | |")
            continue
        lc, lw = r["layers"]["lowest_cosine"], r["layers"]["worst_rel_rms"]
        lines.append(f"| {r['label']} | {r['runtime']} | {'pass' if r['logits']['passed'] else 'FAIL'} "
                     f"(cos {r['logits']['cosine']:.4f}) | {'pass' if r['layers']['passed'] else 'FAIL: ' + str(r['layers']['first_failure'])} | "
                     f"{lc['cosine']:.4f} ({lc['layer']}) | {lw['rel_rms']:.4f} ({lw['layer']}) |")
    sweep = rec["branch_sweep"]
    if sweep:
        caught = sum(not r["layers"]["passed"] for r in sweep)
        logit = sum(not r["logits"]["passed"] for r in sweep)
        named = sum(bool(r["layers"]["first_failure"]) and r["layers"]["first_failure"].split()[0].startswith(r["block"]) for r in sweep)
        lines += ["", f"## Each branch conv's weight scales reversed (NNCF int8, ort-cpu): {len(sweep)} files", "",
                  f"- logit verdict fails **{logit} of {len(sweep)}**; layer-wise verdict fails **{caught} of {len(sweep)}**, "
                  f"naming the damaged block first in {named}", "",
                  "| block | conv | logits cos | logits | first failing layer |", "|---|---|---|---|---|"]
        for r in sweep:
            lines.append(f"| {r['block']} | {r['conv']} | {r['logits']['cosine']:.4f} | "
                         f"{'pass' if r['logits']['passed'] else 'FAIL'} | {r['layers']['first_failure'] or 'none (pass)'} |")
    if rec["damages"]:
        lines += ["", "## Stem, early, middle and last block, three damages (NNCF int8, ort-cpu)", "",
                  "| where | damage | logits | first failing layer |", "|---|---|---|---|"]
        for r in rec["damages"]:
            if "layers" not in r:
                lines.append(f"| {r['where']} | {r['damage']} | - | {r.get('skipped')} |")
                continue
            lines.append(f"| {r['where']} ({r['block']}) | {r['damage']} | "
                         f"{'pass' if r['logits']['passed'] else 'FAIL'} (cos {r['logits']['cosine']:.4f}) | "
                         f"{r['layers']['first_failure'] or 'none (pass)'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
