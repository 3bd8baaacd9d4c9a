"""Model family: arch grammar -> spec -> ``nn.Module`` in block form a, b or c.

``spec`` is torch-free (the CLI validates names without importing torch); everything else here
imports torch lazily through :func:`build_model`.
"""

from .spec import EXAMPLES, FORMS, GRAMMAR, ArchSpec, parse_arch, parse_arch_list

__all__ = ["ArchSpec", "EXAMPLES", "FORMS", "GRAMMAR", "build_model", "parse_arch",
           "parse_arch_list"]


def build_model(spec, *, form="c", seed=0, weights=None, drop_path_rate=0.0, cache_dir=None,
                verify=True, log=None, deadline=None):
    """The network for ``spec`` (an :class:`ArchSpec` or a name), in eval mode.

    Weights: ``weights`` (a checkpoint path, torchvision key names) if given, else the
    deterministic calibrated default for ``seed``, read from / saved to ``cache_dir`` when given.
    """
    from .build import build_model as _build

    return _build(spec, form=form, seed=seed, weights=weights, drop_path_rate=drop_path_rate,
                  cache_dir=cache_dir, verify=verify, log=log, deadline=deadline)
