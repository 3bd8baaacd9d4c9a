"""``python -m resnext_bench`` == ``resnext-bench``."""

from .cli import main

main(prog_name="resnext-bench")
