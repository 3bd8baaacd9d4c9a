"""Params exactly and MACs within 1% of torchvision's published numbers; paper Table 7 params."""

import pytest

from resnext_bench.models.info import arch_info

TORCHVISION = {
    "resnet50": (25_557_032, 4.089),
    "resnext50_32x4d": (25_028_904, 4.23),
    "resnext101_32x8d": (88_791_336, 16.414),
    "resnext101_64x4d": (83_455_272, 15.46),
    "wide_resnet50_2": (68_883_240, 11.398),
    "wide_resnet101_2": (126_886_696, 22.753),
}


@pytest.mark.parametrize("arch", sorted(TORCHVISION))
def test_torchvision_reference_numbers(arch):
    params, gmacs = TORCHVISION[arch]
    info = arch_info(arch)
    assert info["params"] == params
    assert info["macs"] / 1e9 == pytest.approx(gmacs, rel=0.01)
    assert info["flops"] == 2 * info["macs"]


@pytest.mark.parametrize("arch,mparams", [
    ("resnext29_8x64d", 34.4), ("resnext29_16x64d", 68.1), ("wrn28_10", 36.5)])
def test_paper_table7_params(arch, mparams):
    assert arch_info(arch)["params"] / 1e6 == pytest.approx(mparams, abs=0.1)


def test_paper_table1_complexity():
    """Paper Table 1: ResNet-50 25.5M / 4.1 GFLOPs(=MACs), ResNeXt-50 25.0M / 4.2 G."""
    r50, rx50 = arch_info("resnet50"), arch_info("resnext50_32x4d")
    assert round(r50["params"] / 1e6, 1) == 25.6 and round(r50["macs"] / 1e9, 1) == 4.1
    assert round(rx50["params"] / 1e6, 1) == 25.0 and round(rx50["macs"] / 1e9, 1) == 4.2


def test_macs_scale_with_image_area():
    a, b = arch_info("resnet18", 64), arch_info("resnet18", 128)
    assert a["params"] == b["params"]
    assert b["macs"] / a["macs"] == pytest.approx(4.0, rel=0.02)
