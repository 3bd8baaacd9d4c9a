"""``resnext-bench tune``: which configuration to deploy on this machine, found by a staged
search within a time budget (candidates from the ISA and the runtimes here, screening, successive
halving by the measured noise, the answer against the default configuration, a bundle)."""
