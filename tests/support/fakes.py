"""Fake runtimes the harness and GPU-path tests share."""

from __future__ import annotations

from resnext_bench.runtimes.base import Runtime


class CountingRuntime(Runtime):
    """A fake runtime: counts calls, never sleeps."""

    name = "fake"

    def __init__(self):
        super().__init__()
        self.runs = self.syncs = self.prepares = 0

    @classmethod
    def available(cls):
        return True, "fake"

    def load(self, artifact):
        pass

    def prepare(self, images):
        self.prepares += 1
        return images

    def run(self, x):
        self.runs += 1
        return x.reshape(len(x), -1)[:, :10]

    def synchronize(self):
        self.syncs += 1
