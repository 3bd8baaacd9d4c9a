"""Verdicts as JUnit XML: what GitLab, Jenkins, Azure and the GitHub test reporters read.

One ``<testcase>`` per configuration compared (``ab``: one; ``compare``: one per config key);
a regression (slower, parity broken, failed, missing...) is a ``<failure>``, an unreached
verdict (``inconclusive``) a ``<skipped>`` case with the reason, anything else passes. The
shape is the common subset those readers share (Jenkins' ``junit.xsd``: ``testsuites`` >
``testsuite`` with ``name tests failures errors skipped time`` > ``testcase`` with ``name
classname time`` and at most one ``failure`` or ``skipped``); ``tests/test_junit.py``
validates it against that schema.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from ..core.verdict import Outcome, describe_ratio


def _case(suite: ET.Element, classname: str, name: str, verdict: Outcome, ratio, ci, notes,
          seconds: float = 0.0) -> None:
    case = ET.SubElement(suite, "testcase", name=name, classname=classname, time=f"{seconds:.3f}")
    change = "-" if ratio is None else describe_ratio(ratio)
    interval = "" if ci[0] is None else f", 95% CI [{ci[0]:.3f}, {ci[1]:.3f}]"
    text = "\n".join([f"{verdict.value}: {change}{interval}", *notes])
    if verdict.is_regression:
        failure = ET.SubElement(case, "failure", message=f"{verdict.value}: new is {change}"[:500],
                                type=verdict.value)
        failure.text = text
    elif verdict is Outcome.INCONCLUSIVE:
        reason = notes[0] if notes else "the change is within the measured noise"
        ET.SubElement(case, "skipped", message=f"verdict not reached: {reason}"[:500])
    else:
        out = ET.SubElement(case, "system-out")
        out.text = text


def _document(suite_name: str, add_cases) -> str:
    root = ET.Element("testsuites", name="resnext-bench")
    suite = ET.SubElement(root, "testsuite", name=suite_name)
    add_cases(suite)
    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    seconds = sum(float(c.get("time") or 0.0) for c in cases)  # the suite's: its cases' sum
    suite.attrib.update(tests=str(len(cases)), failures=str(failures), errors="0",
                        skipped=str(skipped), time=f"{seconds:.3f}")
    root.attrib.update(tests=str(len(cases)), failures=str(failures), errors="0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def ab_junit(res) -> str:
    """One test case: the A/B verdict of ``res`` (:class:`~.ab.ABResult`)."""
    v = res.verdict
    name = f"{res.base.arch} {res.base.runtime} {res.base.precision} b{res.base.batch}"
    seconds = sum(r.measure_seconds or 0.0 for r in (res.base, res.new))

    def add(suite):
        _case(suite, "resnext-bench.ab", name, Outcome(v.verdict), v.ratio, (v.ci_low, v.ci_high),
              v.notes + res.notes, seconds)
    return _document("resnext-bench ab", add)


def compare_junit(cmp) -> str:
    """One test case per configuration of ``cmp`` (:class:`~.compare.Comparison`)."""
    def add(suite):
        for c in cmp.rows:
            _case(suite, "resnext-bench.compare", c.key, Outcome(c.verdict), c.ratio,
                  (c.ci_low, c.ci_high), c.notes)
    return _document("resnext-bench compare", add)
