"""Versions that name cache entries (weights files, exports, parity references), importable
without torch: a measuring worker that finds its cached ONNX file computes the cache key and
must not pay torch's import (1.7 s here) or carry its memory for it."""

#: the default weights' recipe (models/weights.py); part of every cache key that depends on
#: them, so a new recipe rebuilds old caches. 2: calibrated on a mixture of input kinds;
#: 3: residual branches scaled down and a bounded classifier gain (trained-network regime);
#: 4: a trained network's confidence (photo pseudo-classes over the varied floor).
CALIBRATION_VERSION = 4

#: the trained reference's recipe (models/digits.py: data split, preprocessing, training)
DIGITS_RECIPE_VERSION = 1
