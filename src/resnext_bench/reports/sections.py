"""The report's sections as plain tables (title, heads, body, notes), rendered to markdown or
HTML by :mod:`.render`: the headline, the paper beside the measurements, the block-forms study,
the environment and what was not measured.

Each function takes the run's latest rows (and env) and returns None when the run has nothing
for that section, so a report never shows an empty one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..config import SERVE_SETTINGS as SERVE_KEYS
from ..core.isa import isa_summary
from ..core.paper import PAPER, PUBLISHED, TORCHVISION, TORCHVISION_COST, published_for
from ..core.schema import ResultRow, settings_suffix
from ..core.verdict import contention
from .tables import config_label, is_reference, natural_key, threads_text


@dataclass
class Section:
    title: str
    heads: list[str]
    body: list[list[str]]
    notes: list[str] = field(default_factory=list)


def _cfg(r: ResultRow) -> str:
    return config_label(r)


def _parity(r: ResultRow) -> str:
    if is_reference(r) and r.parity_passed is not False:
        return "reference"
    if r.parity_passed is None:
        return "-"
    rel = f" (max rel {r.parity_max_rel_err:.1e})" if r.parity_max_rel_err is not None else ""
    return ("pass" if r.parity_passed else "FAIL") + rel


def _by_arch(rows):
    out: dict[str, list[ResultRow]] = {}
    for r in rows:
        out.setdefault(r.arch, []).append(r)
    return sorted(out.items(), key=lambda kv: natural_key(kv[0]))


def headline(rows: list[ResultRow]) -> Section | None:
    """Per arch: the fastest configuration at the smallest batch measured, its speed-up over
    PyTorch fp32 eager there, and the highest throughput at any batch."""
    ok = [r for r in rows if r.ok and r.latency_p50_ms]
    if not ok:
        return None
    models = sorted({r.device_model or "unrecorded" for r in ok})
    several = len(models) > 1  # rows of different machines are never ranked together
    body = []
    for arch, everything in _by_arch(ok):
        for model in models:
            members = [r for r in everything if (r.device_model or "unrecorded") == model]
            if members:
                body.append(([arch, model] if several else [arch]) + _headline_cells(members))
    heads = ["arch"] + (["machine"] if several else []) + [
        "batch", "fastest", "p50 ms", "p99 ms", "vs torch fp32", "best img/s", "parity"]
    notes = ["fastest: lowest p50 at the smallest batch measured among rows that pass parity; "
             "vs torch fp32: PyTorch fp32 eager's p50 at the same batch, form, device and "
             "threads divided by the fastest's ('-' where no such row was measured; divided only "
             f"where both rows' round spreads are within {SPREAD_LIMIT:.0%} and the ratio exceeds them)."]
    ran = [r for r in ok if r.precision_executed]
    if ran:
        notes.append("ran other than labelled (judged with what ran): " + ", ".join(
            f"{r.runtime} {r.precision} -> {r.precision_executed}" for r in ran))
    busy = sum(1 for r in ok if contention(r))
    if busy:
        notes.append(f"{busy} row(s) were timed on a busy host (see Environment, host load): "
                     "their latencies may be biased.")
    return Section("Fastest per arch", heads, body, notes)


#: a speed-up is divided only by rows whose between-round spread is at most this (a torch row
#: with 188 % round spread gave "43.50x vs torch fp32" before)
SPREAD_LIMIT = 0.25


def comparable_speedup(slow: ResultRow, fast: ResultRow) -> tuple[float | None, str]:
    """(``slow`` p50 / ``fast`` p50, "") when the rows' round spreads allow dividing them, else
    (None, why): a spread above :data:`SPREAD_LIMIT` makes them not comparable, and a ratio
    within the larger spread is not distinguishable from 1."""
    import math

    ratio = slow.latency_p50_ms / fast.latency_p50_ms
    spreads = [r.round_spread for r in (slow, fast)
               if r.round_spread is not None and math.isfinite(r.round_spread)]
    worst = max(spreads) if spreads else None
    if worst is not None and worst > SPREAD_LIMIT:
        return None, f"not comparable (round spread {worst:.0%})"
    if worst is not None and abs(math.log(ratio)) <= math.log1p(worst):
        return None, f"within the round spread ({worst:.0%})"
    return ratio, ""


def _speedup_text(slow: ResultRow | None, fast: ResultRow) -> str:
    if slow is None:
        return "-"
    ratio, why = comparable_speedup(slow, fast)
    return f"{ratio:.2f}x" if ratio is not None else why


def _accuracy_cost(r: ResultRow) -> str:
    """What the row's configuration costs in top-1 accuracy against torch fp32, with its
    interval; or why it is not known."""
    if r.accuracy_top1_drop is None:
        return "not measured (no labeled --images)"
    ci = r.accuracy_top1_drop_ci
    interval = f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""
    return (f"{r.accuracy_top1_drop:+.2f} points{interval} on {r.accuracy_images} images "
            f"({r.accuracy_top1:.1%} vs {r.accuracy_ref_top1:.1%})")


def _default_of(rows: list[ResultRow], pick: ResultRow) -> ResultRow | None:
    """The configuration a deployer gets without this tool: ONNX Runtime CPU fp32 with its own
    settings and threads, at the pick's batch, form and device."""
    return next((r for r in rows if r.runtime == "ort-cpu" and r.precision == "fp32"
                 and not r.settings and r.threads is None and r.batch == pick.batch
                 and r.form == pick.form and r.device == pick.device), None)


def answer(rows: list[ResultRow], tune: dict | None = None) -> Section | None:
    """The deployment answer, first in every report: per arch (and machine), the fastest
    configuration at the smallest batch that passes parity -- ``tune``'s confirmed pick where
    the run dir holds a ``tune.json`` -- against the default (ort-cpu fp32), with what it costs
    in accuracy and which weights that was judged on."""
    from .recommend import rank

    ok = [r for r in rows if r.ok and r.latency_p50_ms]
    if not ok:
        return None
    body, notes = [], []
    tuned = (tune or {}).get("winner") or {}
    vs = (tune or {}).get("vs_default") or {}
    for arch, everything in _by_arch(ok):
        for model in sorted({r.device_model or "unrecorded" for r in everything}):
            members = [r for r in everything if (r.device_model or "unrecorded") == model]
            b = min(r.batch for r in members)
            passing = [r for r in members if r.batch == b and r.parity_passed is True]
            # the tune's deployed figures are its confirmation's row (the same p50 as
            # tune.json and the bundle's metrics.json), not a screen's
            tuned_rows = [r for r in members if r.config_key == tuned.get("config_key")]
            pick = next((r for r in tuned_rows if r.extra.get("tune_stage") == "confirm"),
                        tuned_rows[-1] if tuned_rows else None)
            source = "tune (paired confirmation)" if pick is not None else "fastest passing row"
            if pick is None:
                ranking, _ = rank(passing, "latency")
                pick = ranking[0] if ranking else None
            if pick is None:
                body.append([arch, str(b), "no configuration passed parity", "-", "-", "-", "-", "-"])
                continue
            default = _default_of(members, pick)
            rejected = (tune or {}).get("pick_rejected")
            if source.startswith("tune") and rejected:
                r = rejected.get("ratio")
                speed = ("the default itself: keep it (the search's pick "
                         f"{rejected['config_key']} measured "
                         + (f"{r:.2f}x the default's speed" if r else "no faster")
                         + f" in the paired confirmation: {rejected['verdict']})")
            elif source.startswith("tune") and vs.get("ratio"):
                ci = vs.get("ci") or [None, None]
                speed = ("the default itself: keep it" if vs.get("verdict") == "same" else
                         f"{vs['ratio']:.2f}x ({vs.get('verdict')}, 95% CI [{ci[0]:.2f}, {ci[1]:.2f}])"
                         if ci[0] is not None else f"{vs['ratio']:.2f}x ({vs.get('verdict')})")
            elif default is pick:
                speed = "the default itself: keep it"
            else:
                speed = _speedup_text(default, pick)
            body.append([arch, str(b), f"{_cfg(pick)} ({source})", f"{pick.latency_p50_ms:.2f}",
                         f"{_cfg(default)}: {default.latency_p50_ms:.2f} ms" if default else "not measured",
                         speed, _accuracy_cost(pick), pick.parity_weights or "-"])
    notes.append("answer: the fastest configuration at the smallest batch among rows that pass "
                 "parity (and, with labeled images, keep >= 99 % of fp32's accuracy); vs default: "
                 "ONNX Runtime CPU fp32 with its own settings at the same batch, p50 divided only "
                 f"where both rows' round spreads are within {SPREAD_LIMIT:.0%} and the ratio exceeds "
                 "them; accuracy: top-1 drop against torch fp32 in points, 95 % paired bootstrap interval.")
    if any(r.parity_weights and r.parity_weights.startswith("default") for r in ok):
        notes.append("default weights (untrained, calibrated): parity and int8 verdicts describe the "
                     "architecture, not a trained checkpoint (--weights FILE, or --weights digits)")
    return Section("Deployment answer", ["arch", "batch", "answer", "p50 ms", "default",
                                         "vs default", "accuracy cost", "judged on weights"], body, notes)


def accuracy(rows: list[ResultRow]) -> Section | None:
    """Top-1 / top-5 accuracy of every row measured on labeled images, and its drop against
    torch fp32 with the interval."""
    with_acc = [r for r in rows if r.ok and r.accuracy_top1 is not None]
    if not with_acc:
        return None
    body = []
    for r in sorted(with_acc, key=lambda r: (natural_key(r.arch), r.batch, r.runtime, r.precision)):
        ci = r.accuracy_top1_drop_ci
        body.append([r.arch, _cfg(r), str(r.batch), str(r.accuracy_images or "-"),
                     f"{r.accuracy_top1:.1%}", f"{r.accuracy_ref_top1:.1%}" if r.accuracy_ref_top1 is not None else "-",
                     f"{r.accuracy_top1_drop:+.2f}" if r.accuracy_top1_drop is not None else "-",
                     f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "-", _parity(r)])
    return Section("Accuracy on labeled images", ["arch", "configuration", "batch", "images",
                                                 "top-1", "torch fp32 top-1", "drop (points)",
                                                 "95% CI", "parity"], body,
                   [f"images: {with_acc[0].parity_inputs}; weights: {with_acc[0].parity_weights}. "
                    "drop: torch fp32's top-1 minus the row's, in points, with a paired bootstrap "
                    "interval over the images; a row fails when it keeps < 99 % of fp32's accuracy."])


def _headline_cells(members: list[ResultRow]) -> list[str]:
    b = min(r.batch for r in members)
    at_b = [r for r in members if r.batch == b]
    # a configuration that fails parity is not an answer: the fastest and the best throughput
    # come from passing rows (or rows without a parity check) whenever there are any
    passing = [r for r in at_b if r.parity_passed is not False] or at_b
    fast = min(passing, key=lambda r: r.latency_p50_ms)
    # a speed-up divides comparable rows only: the reference at the same batch, form, device
    # and threads (an eager torch row on 1 thread against ORT on 2 says nothing about ORT)
    ref = next((r for r in at_b if r.runtime == "torch" and r.precision == "fp32" and not r.settings
                and r.form == fast.form and r.device == fast.device and r.threads == fast.threads),
               None)
    speedup = _speedup_text(ref, fast)
    top = max([r for r in members if r.parity_passed is not False] or members,
              key=lambda r: r.throughput_ips or 0)
    return [str(b), _cfg(fast), f"{fast.latency_p50_ms:.2f}",
            f"{fast.latency_p99_ms:.2f}" if fast.latency_p99_ms else "-", speedup,
            f"{top.throughput_ips:.1f} ({_cfg(top)}, batch {top.batch})", _parity(fast)]


def paper(rows: list[ResultRow]) -> Section | None:
    """Each measured arch beside its published numbers: the paper's error and cost, torchvision's
    cost, the counted cost, and the best measured p50 / throughput. Archs the paper has no number
    for are marked, and the paper's configurations missing from the run are listed."""
    ok = [r for r in rows if r.ok and r.latency_p50_ms]
    if not ok:
        return None
    body = []
    for arch, members in _by_arch(ok):
        pub = published_for(arch)
        r0 = members[0]
        tv = TORCHVISION_COST.get(arch)
        # the best figures count rows that pass parity, as every other table does (a row that
        # computes something else is not this arch's speed)
        passing = [r for r in members if r.parity_passed is not False]
        fast = min(passing or members, key=lambda r: (r.batch, r.latency_p50_ms))
        top = max(passing or members, key=lambda r: r.throughput_ips or 0)
        err = (f"{pub.top1_error} % {pub.dataset} ({pub.error_source})" if pub and pub.top1_error
               else "no published number")
        cost = "; ".join(p for p in (
            (f"{pub.params_m} M" if pub and pub.params_m else "") + (f" / {pub.gmacs} G" if pub and pub.gmacs else "")
            + (f" ({pub.cost_source})" if pub and pub.cost_source else ""),
            f"{tv[0] / 1e6:.2f} M / {tv[1]} G ({TORCHVISION})" if tv else "") if p) or "-"
        body.append([arch, pub.label if pub else "-", err, cost,
                     f"{r0.params / 1e6:.2f} M / {r0.macs / 1e9:.3f} G" if r0.params and r0.macs else "-",
                     f"{fast.latency_p50_ms:.2f} ({_cfg(fast)}, batch {fast.batch})",
                     f"{top.throughput_ips:.1f} ({_cfg(top)}, batch {top.batch})"])
    measured = {a for a, _ in _by_arch(ok)}
    missing = [p for p in PUBLISHED if p.arch not in measured]
    weights = sorted({r.parity_weights.split(" (")[0] for r in ok if r.parity_weights}) or ["-"]
    default_only = all(w.startswith("default") for w in weights)
    notes = [f"Published numbers: {PAPER} (Xie et al., CVPR 2017) and {TORCHVISION}; the table "
             "is cited per number. The paper's FLOPs are multiply-adds (this tool's MACs). The "
             "errors belong to the paper's ImageNet-trained models; "
             + ("here the same architectures run with calibrated untrained weights, so only their "
                "cost is measured." if default_only else
                f"this run's weights ({'; '.join(weights)}) are not those models, so only the "
                "cost is compared.")]
    if missing:
        notes.append("Published but not in this run: " + "; ".join(
            f"{p.label} = `{p.arch or 'not expressible'}` {p.top1_error} % ({p.error_source})"
            for p in missing))
    return Section("The paper beside the measurements",
                   ["arch", "paper", "published top-1 error", "published params / GMACs",
                    "counted params / GMACs", "best p50 ms", "best img/s"], body, notes)


def forms_study(rows: list[ResultRow]) -> Section | None:
    """The paper's three equivalent block forms measured side by side, per runtime: p50 of each
    form and its ratio to form c (same run, interleaved in one group)."""
    ok = [r for r in rows if r.ok and r.latency_p50_ms]
    groups: dict[tuple, dict[str, ResultRow]] = {}
    for r in ok:
        groups.setdefault((r.arch, r.runtime, r.device, r.precision, r.batch,
                           threads_text(r) or "-", r.image_size, settings_suffix(r.settings)),
                          {})[r.form] = r
    groups = {k: v for k, v in groups.items() if len(v) >= 2 and "c" in v}
    if not groups:
        return None
    body = []
    for (arch, runtime, device, precision, batch, thr, _size, settings), forms in sorted(
            groups.items(), key=lambda kv: (natural_key(kv[0][0]), kv[0][1], kv[0][3], kv[0][4],
                                            kv[0][5], kv[0][7])):
        c = forms["c"].latency_p50_ms
        cells = []
        for f in "abc":
            r = forms.get(f)
            cells.append(f"{r.latency_p50_ms:.2f} (±{r.round_spread:.0%})" if r and r.round_spread is not None
                         else f"{r.latency_p50_ms:.2f}" if r else "-")
        ratios = [f"{forms[f].latency_p50_ms / c:.2f}x" if f in forms else "-" for f in "ab"]
        fastest = min(forms, key=lambda f: forms[f].latency_p50_ms)
        label = runtime + (f" {settings}" if settings else "")
        body.append([arch, label, device, precision, str(batch), thr, *cells, *ratios, fastest])
    return Section("Block forms study (paper Fig. 3)",
                   ["arch", "runtime", "device", "precision", "batch", "threads", "form a p50 ms",
                    "form b p50 ms", "form c p50 ms", "a / c", "b / c", "fastest"], body,
                   ["Forms: (a) C branches summed, (b) C branches concatenated then one 1x1, "
                    "(c) one grouped 3x3 conv; the same function and parameters (the paper "
                    "expects (c) to be fastest). ±: the row's round spread; a ratio within the "
                    "spreads of both rows is not a difference."])


def int8(rows: list[ResultRow]) -> Section | None:
    """Every int8 row beside its fp32 relative on the same runtime (and ORT CPU fp32, the
    default): the quantizer and its recipe, the calibration, parity, the accuracy drop where
    labels exist, and the speed-ups -- ratios of p50 within the run."""
    q8 = [r for r in rows if r.ok and r.precision == "int8" and r.latency_p50_ms]
    if not q8:
        return None

    def twin(r: ResultRow, runtime: str) -> ResultRow | None:
        return next((f for f in rows if f.ok and f.precision == "fp32" and f.runtime == runtime
                     and (f.arch, f.form, f.batch, f.threads, f.image_size) ==
                     (r.arch, r.form, r.batch, r.threads, r.image_size) and f.latency_p50_ms), None)

    body = []
    for r in sorted(q8, key=lambda r: (natural_key(r.arch), r.runtime, r.batch, settings_suffix(r.settings))):
        q = r.quantization or {}
        recipe = ", ".join(str(v) for v in (q.get("activations"), "reduce_range" if q.get("reduce_range")
                                            else None, q.get("method")) if v)
        same, ort = twin(r, r.runtime), twin(r, "ort-cpu")
        control = q.get("accuracy_control") or q.get("fallback") or {}
        drop = (f"{r.accuracy_top1_drop:+.2f}" if r.accuracy_top1_drop is not None else "-")
        body.append([r.arch, r.runtime, str(r.batch), threads_text(r) or "-",
                     f"{q.get('quantizer', 'ort')} ("
                     + " ".join(filter(None, (q.get("library", "onnxruntime quantize_static"),
                                              q.get("library_version")))) + ")",
                     recipe or "-", f"{q.get('count', '-')} ({q.get('source', '-')})",
                     f"{control.get('target_spec')}: {q.get('float_nodes', 0)} in float" if control else "-",
                     f"{r.parity_cosine:.4f}" if r.parity_cosine is not None else "-",
                     f"{r.parity_top1_agreement:.3f}" if r.parity_top1_agreement is not None else "-",
                     drop, _parity(r).split(" (")[0],
                     f"{r.latency_p50_ms:.2f}",
                     _speedup_text(same, r), _speedup_text(ort, r)])
    return Section("int8", ["arch", "runtime", "batch", "threads", "quantizer", "recipe",
                            "calibration images", "accuracy control", "cosine", "top-1 agr.",
                            "acc. drop pt", "parity", "p50 ms", "vs own fp32", "vs ORT fp32"], body,
                   ["Speed-ups are ratios of p50 within this run (the same runtime's fp32 row, and "
                    f"ORT CPU fp32, the default), divided only where both rows' round spreads are "
                    f"within {SPREAD_LIMIT:.0%} and the ratio exceeds them. int8 is judged on cosine, top-1 agreement and, with "
                    "labeled images, the accuracy drop (core/parity.py); max_rel_err is in the rows."])


def layers(rows: list[ResultRow]) -> Section | None:
    """Layer-wise parity per row (runtime x precision): the verdict, the first failing layer,
    the worst layer by relative RMS error (local: the fp32 block on the runtime's own input),
    and where the taps came from. Where int8 loses, block by block, is the plot beside it."""
    compared = [r for r in rows if r.parity_layers_compared]
    if not compared:
        return None
    body = []
    for r in sorted(compared, key=lambda r: (natural_key(r.arch), r.runtime, r.precision, r.batch)):
        w = r.parity_layers_worst or {}
        q = (r.quantization or {}).get("quantizer")
        body.append([r.arch, r.runtime, r.precision + (f" ({q})" if q else ""), str(r.batch),
                     f"{'pass' if r.parity_layers_passed else 'FAIL'} ({r.parity_layers_compared})",
                     (r.parity_layers_first_failure or "-").split(" (first")[0],
                     f"{w.get('layer', '-')}: rel RMS {w.get('rel_rms', float('nan')):.4f}, "
                     f"cosine {w.get('cosine', float('nan')):.5f}" if w else "-",
                     "pass" if r.parity_logits_passed else ("FAIL" if r.parity_logits_passed is False else "-")])
    return Section("Layer-wise parity", ["arch", "runtime", "precision", "batch", "layers",
                                         "first failing layer", "worst layer (local)", "logits"], body,
                   ["Every residual branch, block and stage output compared with PyTorch fp32 at its "
                    "own scale; a block is judged on its own error (the fp32 block run on the "
                    "runtime's own input to it), so the first failing layer is where a runtime or "
                    "a quantized file goes wrong (core/layerwise.py). The row's parity fails when a "
                    "layer does; the logits' verdict is the last column. Full profiles: "
                    "parity_layers_profile in results.jsonl."])




def server_config(r: ResultRow) -> str:
    """A row under load's configuration without its load (what one latency-throughput curve
    is drawn for): the label and the settings other than the load's."""
    rest = {k: v for k, v in (r.settings or {}).items() if k not in SERVE_KEYS}
    return f"{r.arch} {config_label(dataclasses.replace(r, settings=rest))} b{r.batch}"


def load_label(r: ResultRow) -> str:
    if r.load_mode == "closed":
        n = (r.settings or {}).get("concurrency")
        return f"{n} client{'s' if n != 1 else ''}"
    return f"{(r.settings or {}).get('request_rate')} req/s"


def serving(rows: list[ResultRow], tune: dict | None = None) -> Section | None:
    """Rows under concurrent requests (``--concurrency`` / ``--request-rate``): per server
    configuration, each load's per-request latency (queueing included), throughput, the CPU
    the worker used and, for an open loop, requests left unserved (the rate was beyond it)."""
    loaded = [r for r in rows if r.load_mode]
    if not loaded:
        return None
    body = []
    for r in sorted(loaded, key=lambda r: (server_config(r), r.load_mode,
                                           (r.settings or {}).get("concurrency") or 0,
                                           (r.settings or {}).get("request_rate") or 0)):
        def ms(v):
            return "-" if v is None else f"{v:.2f}"

        offered = "" if r.load_mode == "closed" else f" of {r.load_offered} offered"
        rate = (r.settings or {}).get("request_rate")
        if rate and r.load_achieved_rps is not None and r.load_achieved_rps < 0.95 * rate:
            offered += f"; saturated: served {r.load_achieved_rps:.1f} of {rate:g} req/s"
        body.append([server_config(r), load_label(r), str(r.load_slots), ms(r.latency_p50_ms),
                     ms(r.latency_p95_ms), ms(r.latency_p99_ms),
                     "-" if r.throughput_ips is None else f"{r.throughput_ips:.1f}",
                     "-" if r.cpu_used_cores is None else f"{r.cpu_used_cores:.2f}",
                     f"{r.load_completed}{offered}" + (f", {r.load_unserved} unserved"
                                                        if r.load_unserved else ""),
                     _parity(r)])
    notes = ["latency is per request, from its sending (closed loop: N clients, each waiting for "
             "its answer) or its scheduled arrival (open loop: Poisson arrivals) to its answer, "
             "queueing included; throughput is the requests completed x batch over the blocks' "
             "wall time; CPU: the worker's CPU seconds over wall seconds"]
    if any(row[8] and "saturated" in row[8] for row in body):
        notes.append("saturated: the server answered fewer requests a second than arrived -- "
                     "its queue grew for the whole block, and the latency says how long it got")
    if any(r.load_unserved for r in loaded):
        notes.append("unserved: arrivals still queued when the drain limit ran out -- the rate is "
                     "beyond what that configuration serves; their latencies are not in the "
                     "percentiles, so such a row's p99 is not its clients' experience")
    pick_key = ((tune or {}).get("winner") or {}).get("config_key")
    pick = next((r for r in loaded if r.config_key == pick_key), None)
    if pick is not None:
        vs = (tune or {}).get("vs_default") or {}
        ratio = (f"; {vs['ratio']:.2f}x the default's throughput, paired (95% CI "
                 f"[{vs['ci'][0]:.2f}, {vs['ci'][1]:.2f}], {vs['verdict']})"
                 if vs.get("ratio") and vs.get("ci") else "")
        limit = ((tune or {}).get("constraints") or {}).get("max_latency_ms")
        notes.insert(0, f"tune's answer: {server_config(pick)} under {load_label(pick)}, "
                        f"{pick.throughput_ips:.1f} img/s at p99 {pick.latency_p99_ms:.2f} ms"
                        + (f" (limit {limit:g} ms)" if limit is not None else "") + ratio)
    pinned = sorted({tuple(r.cpus_pinned) for r in loaded if r.cpus_pinned})
    if pinned:
        notes.append("pinned to CPUs " + "; ".join(",".join(map(str, p)) for p in pinned))
    return Section("Serving under concurrent requests",
                   ["configuration", "load", "slots", "p50 ms", "p95 ms", "p99 ms", "img/s",
                    "CPU cores", "requests", "parity"], body, notes)


def not_measured(rows: list[ResultRow]) -> Section | None:
    """Skipped and failed configurations grouped by runtime and reason: the reason once, with
    how many configurations it cost."""
    bad = [r for r in rows if not r.ok]
    if not bad:
        return None
    groups: dict[tuple, list[ResultRow]] = {}
    for r in bad:
        groups.setdefault((r.runtime, r.status, str(r.error or "")), []).append(r)
    body = []
    for (runtime, status, error), members in sorted(groups.items()):
        archs = sorted({r.arch for r in members}, key=natural_key)
        body.append([runtime, status, str(len(members)), ", ".join(archs), error])
    return Section("Not measured", ["runtime", "status", "configurations", "archs", "reason"], body)


def environment(env: dict, rows: list[ResultRow]) -> Section:
    """Machine, software and measurement settings: what a reader needs to trust or reproduce
    the numbers. GPU and CUDA lines appear only on machines that have them."""
    if not env:
        return Section("Environment", ["item", "value"], [["env.json", "missing"]])
    env = {k: v for k, v in env.items() if v is not None}
    pk = {k: v for k, v in env.get("packages", {}).items() if v is not None}
    cfg = env.get("config", {})
    mem = f", {env['memory_gb']} GB" if "memory_gb" in env else ""
    items = [
        ("CPU", f"{env.get('cpu', '?')} ({env.get('affinity_cpus') or env.get('cpu_count', '?')} usable "
                f"cores{mem})"),
        ("CPU ISA", isa_summary(env.get("cpu_flags"), env.get("platform"))),
    ]
    if env.get("gpu"):
        items.append(("GPU", f"{env['gpu']} (driver {env.get('driver', '?')}, compute capability "
                             f"{env.get('gpu_capability', '?')})"))
    torch_line = f"torch {pk.get('torch')}"
    if env.get("torch_cuda"):
        torch_line += f" (CUDA {env['torch_cuda']})"
    ort = ", ".join(f"{k} {v}" for k, v in (env.get("onnxruntime_packages") or {}).items()) or "not installed"
    items += [
        ("software", f"python {env.get('python', '?')}, {torch_line}, onnx {pk.get('onnx', '?')}, "
                     f"onnxruntime: {ort}" + (f", tensorrt {env['tensorrt']}" if env.get("tensorrt") else "")
                     + "".join(f", {name} {pk[name]}" for name in ("openvino", "onnxruntime-ep-openvino")
                               if pk.get(name))),
        ("threads", ", ".join(sorted({_threads(r) for r in rows if r.ok})) or "-"),
        ("timing", _timing(cfg, rows)),
    ]
    load = _host_load(rows)
    if load:
        items.append(("host load", load))
    for runtime, opts in _runtime_options(rows).items():
        items.append((f"{runtime} options", opts))
    items.append(("run", ", ".join(p for p in (
        f"resnext-bench {env.get('resnext_bench_version', '?')} commit {env.get('git_commit', 'unknown')[:12]}",
        env.get("timestamp"), env.get("hostname"), env.get("platform")) if p)))
    return Section("Environment", ["item", "value"], [[k, v] for k, v in items])


def _host_load(rows: list[ResultRow]) -> str | None:
    """CPU other processes held while rows were timed (bench/hostload.py), and which rows that
    can have biased; None for runs from before the probe."""
    measured = [r for r in rows if r.ok and r.host_load_cores is not None]
    if not measured:
        return None
    loads = sorted(r.host_load_cores for r in measured)
    text = (f"other processes held {loads[0]:.2f}-{loads[-1]:.2f} CPUs (median "
            f"{loads[len(loads) // 2]:.2f}) of {measured[0].host_cpus} while rows were timed")
    busy = [r for r in measured if contention(r)]
    if busy:
        text += (f"; {len(busy)} row(s) timed on a busy host with a thread pool larger than the "
                 "free CPUs, latencies possibly biased: "
                 + ", ".join(f"{r.arch} {_cfg(r)} b{r.batch} ({r.host_load_cores:.1f})" for r in busy[:6])
                 + (" ..." if len(busy) > 6 else ""))
    return text


def _threads(r: ResultRow) -> str:
    eff = (r.runtime_info or {}).get("threads_effective")
    asked = r.threads if r.threads is not None else "default"
    return f"{r.runtime}: {asked}" + (f" (effective {eff})" if eff is not None else "")


def _timing(cfg: dict, rows: list[ResultRow]) -> str:
    ok = [r for r in rows if r.ok]
    methods = sorted({r.timing_method for r in ok if r.timing_method})
    rounds = sorted({r.rounds for r in ok if r.rounds})
    n = sorted({r.latency_n for r in ok if r.latency_n})
    if not cfg:
        warm = sorted({r.warmup for r in ok if r.warmup is not None})
        cfg = {"warmup": "/".join(map(str, warm)) or "?"}
    parts = [f"warm-up {cfg.get('warmup', '?')} calls"
             + (f" + {cfg['warmup_time']} s" if cfg.get("warmup_time") else ""),
             (f"{cfg['duration']} s per configuration" if cfg.get("duration")
              else f"{cfg['iters']} timed calls per configuration" if cfg.get("iters")
              else "timed calls per configuration: see n"
              + (f" (at least {cfg['min_time']} s)" if cfg.get("min_time") else "")),
             f"{'/'.join(map(str, rounds)) or '?'} interleaved rounds"
             + (f", groups of up to {cfg['group_size']}" if cfg.get("group_size") else ""),
             f"n per row {min(n)}-{max(n)}" if n else "n -",
             "timer " + (", ".join(methods) or "not recorded")]
    return "; ".join(parts)


def _runtime_options(rows: list[ResultRow]) -> dict[str, str]:
    """The session / provider options each runtime ran with (distinct values joined), as the
    runtime family's settings type summarizes them."""
    from .deploy import runtime_settings

    out: dict[str, dict[str, set]] = {}
    for r in rows:
        if not r.ok:
            continue
        opts = out.setdefault(r.runtime, {})
        for k, v in runtime_settings(r).summary().items():
            if v is not None:
                opts.setdefault(k, set()).add(", ".join(map(str, v)) if isinstance(v, (list, tuple))
                                              else str(v))
    return {rt: "; ".join(f"{k} {'/'.join(sorted(v))}" for k, v in opts.items()) or "defaults"
            for rt, opts in sorted(out.items())}
