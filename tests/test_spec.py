import pytest

from resnext_bench.core.errors import UsageError
from resnext_bench.models.spec import GRAMMAR, parse_arch, parse_arch_list


@pytest.mark.parametrize("name,family,c,d,layers", [
    ("resnet18", "imagenet", 1, 64, (2, 2, 2, 2)),
    ("resnet152", "imagenet", 1, 64, (3, 8, 36, 3)),
    ("resnext50_32x4d", "imagenet", 32, 4, (3, 4, 6, 3)),
    ("resnext101_64x4d", "imagenet", 64, 4, (3, 4, 23, 3)),
    ("resnext152_1x1d", "imagenet", 1, 1, (3, 8, 36, 3)),
    ("wide_resnet50_2", "imagenet", 1, 128, (3, 4, 6, 3)),
    ("resnext29_8x64d", "cifar_resnext", 8, 64, (3, 3, 3)),
    ("wrn28_10", "cifar_wrn", 1, 64, (4, 4, 4)),
    ("WRN16_4", "cifar_wrn", 1, 64, (2, 2, 2)),
])
def test_good_names(name, family, c, d, layers):
    spec = parse_arch(name)
    assert (spec.family, spec.cardinality, spec.base_width, spec.layers) == (family, c, d, layers)


@pytest.mark.parametrize("name", [
    "resnext50", "resnext50_0x4d", "resnext50_32x0d", "resnet51", "resnext18_32x4d",
    "wide_resnet34_2", "wide_resnet50_0", "wrn27_10", "wrn4_1", "vgg16", "", "resnext50_32x4",
    "resnext50_-1x4d",
])
def test_bad_names_show_grammar(name):
    with pytest.raises(UsageError) as e:
        parse_arch(name)
    assert GRAMMAR in str(e.value)
    assert "\n" not in str(e.value)


def test_paper_table2_widths():
    """ResNeXt-50 32x4d: inner widths 128/256/512/1024, outputs 256..2048 (paper Table 2)."""
    st = parse_arch("resnext50_32x4d").stage_widths()
    assert [s["inner"] for s in st] == [128, 256, 512, 1024]
    assert [s["out"] for s in st] == [256, 512, 1024, 2048]
    assert [s["stride"] for s in st] == [1, 2, 2, 2]
    # ResNet-50 is the 1x64d case; Wide ResNet-50-2 the 1x128d case
    assert [s["inner"] for s in parse_arch("resnet50").stage_widths()] == [64, 128, 256, 512]
    assert [s["inner"] for s in parse_arch("wide_resnet50_2").stage_widths()] == [128, 256, 512, 1024]


def test_arch_list():
    assert [s.name for s in parse_arch_list("resnet50, resnext50_32x4d")] == ["resnet50", "resnext50_32x4d"]
    with pytest.raises(UsageError):
        parse_arch_list("resnet50,bogus")
