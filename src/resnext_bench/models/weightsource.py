"""Which weights a model is built with, named without torch: the default calibrated weights, the
trained reference, or a checkpoint file.

Parity and accuracy verdicts describe the weights as much as the runtime (a reduced-precision
error that grows through an untrained net says little about a trained one), so every cache key
and every result row names the weights it used through :func:`weights_identity` and
:func:`weights_label`. Pure Python: the config checks and the ORT workers use it without torch.
"""

from __future__ import annotations

from pathlib import Path

from .versions import CALIBRATION_VERSION, DIGITS_RECIPE_VERSION

#: ``--weights digits``: a CIFAR-family net trained on scikit-learn's digits (:mod:`.digits`)
DIGITS_WEIGHTS = "digits"
TRAINED_WEIGHTS = (DIGITS_WEIGHTS,)


def is_trained_reference(weights: str | Path | None) -> bool:
    return weights is not None and str(weights) in TRAINED_WEIGHTS


def weights_identity(weights: str | Path | None, seed: int) -> str:
    """What the cache keys hash: ``sha256:<file digest>``, ``digits-r<recipe>-seed<seed>`` or
    ``cal<version>`` (the default weights' seed is hashed separately by the callers)."""
    if weights is None:
        return f"cal{CALIBRATION_VERSION}"
    if is_trained_reference(weights):
        return f"digits-r{DIGITS_RECIPE_VERSION}-seed{seed}"
    from ..core.fileio import file_digest

    return f"sha256:{file_digest(weights)}"


def weights_label(weights: str | Path | None, seed: int) -> str:
    """What a result row says its parity ran on."""
    if weights is None:
        return (f"default (calibration v{CALIBRATION_VERSION}, seed {seed}: untrained, "
                f"calibrated to the trained-network regime)")
    if is_trained_reference(weights):
        return (f"trained reference: digits (recipe {DIGITS_RECIPE_VERSION}, seed {seed}; "
                f"scikit-learn's digits, training split)")
    from ..core.fileio import file_digest

    return f"file {Path(weights).name} sha256:{file_digest(weights)[:16]}"
