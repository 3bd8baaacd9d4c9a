"""``--junit PATH`` of ``ab`` and ``compare``: valid against the JUnit schema Jenkins validates
(and GitLab, Azure, the GitHub reporters read), one test case per configuration, a regression a
failure, inconclusive a skipped case with the reason."""

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from support.rows import make_rows, write_run

xmlschema = pytest.importorskip("xmlschema")
SCHEMA = Path(__file__).parent / "data" / "junit-jenkins.xsd"


def _valid(text: str) -> ET.Element:
    xmlschema.XMLSchema(str(SCHEMA)).validate(text)
    return ET.fromstring(text)


def _ab_pair(ratio: float, busy: bool = False):
    from resnext_bench.core.schema import row_from_json

    base = dict(make_rows()[2])
    new = dict(base, round_medians_ms=[m * ratio for m in base["round_medians_ms"]],
               samples_ms=[s * ratio for s in base["samples_ms"]],
               latency_p50_ms=base["latency_p50_ms"] * ratio)
    if busy:  # a 2-thread pool beside one busy CPU of two, on both sides
        for r in (base, new):
            r.update(host_load_cores=1.0, host_cpus=2, threads=2)
    return row_from_json(base), row_from_json(new)


@pytest.mark.parametrize("ratio,busy,expect", [(1.0, False, None), (1.5, False, "failure"),
                                               (1.5, True, "failure"), (1.0, True, None)])
def test_ab_junit_is_valid_and_says_the_verdict(ratio, busy, expect):
    from resnext_bench.reports.ab import ab_verdict
    from resnext_bench.reports.junit import ab_junit

    res = ab_verdict(*_ab_pair(ratio, busy))
    root = _valid(ab_junit(res))
    (case,) = root.iter("testcase")
    found = [c.tag for c in case if c.tag in ("failure", "skipped")]
    assert found == ([expect] if expect else []), ET.tostring(root)
    suite = root.find("testsuite")
    assert suite.get("tests") == "1" and suite.get("failures") == ("1" if expect == "failure" else "0")


def test_an_unreached_ab_verdict_is_a_skipped_case_with_the_reason():
    from resnext_bench.core.schema import row_from_json
    from resnext_bench.reports.ab import ab_verdict
    from resnext_bench.reports.junit import ab_junit

    base, new = _ab_pair(1.0)
    base = row_from_json(dict(base.to_json(), status="failed", error="boom"))
    root = _valid(ab_junit(ab_verdict(base, new)))
    skipped = root.find(".//skipped")
    assert skipped is not None and "base failed: boom" in skipped.get("message")


def test_compare_junit_has_a_case_per_configuration(cli, tmp_path):
    rows = make_rows()
    slower = {("resnet50", "ort-cpu", 1): 1.6}
    base = write_run(tmp_path / "base", rows)
    new = write_run(tmp_path / "new", make_rows(scale=slower, seed=1))
    out = tmp_path / "junit.xml"
    res = cli("compare", base, new, "--junit", out)
    assert res.exit_code == 1, res.output
    root = _valid(out.read_text())
    cases = list(root.iter("testcase"))
    ok_rows = [r for r in rows if r["status"] == "ok"]
    assert len(cases) >= len(ok_rows)
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed and all("resnet50|c|ort-cpu" in n and "|1|" in n for n in failed), failed
