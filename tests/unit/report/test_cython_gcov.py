"""scripts/cython_gcov.py: gcc's line counts of a Cython-generated C file, mapped back to the
.pyx lines through Cython's source markers. The C here is written the way Cython writes it
(markers above each statement's code and above a function's signature, utility code after
the last marker), compiled with real gcc --coverage and read with real gcov."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import cython_gcov  # noqa: E402

C_SOURCE = r'''/* "cobol_codec/codecs/demo/demo.pyx":3
 * cdef int pick(int x):
 */
static int pick(int x) {
  int r;
  /* "cobol_codec/codecs/demo/demo.pyx":4
 *     if x > 0:
 */
  if (x > 0) {
    /* "cobol_codec/codecs/demo/demo.pyx":5
 *         return 1
 */
    r = 1;
  } else {
    /* "cobol_codec/codecs/demo/demo.pyx":7
 *     return 2
 */
    r = 2;
  }

  /* "cobol_codec/codecs/demo/demo.pyx":8
 *     return r
 */
  return r;
}

/* "View.MemoryView":12
 * cython's own
 */
static int view_helper(int x) {
  return x + 1;
}

/* "cobol_codec/codecs/common.pxd":9
 * cdef inline int twice(int x):
 */
static int twice(int x) {
  /* "cobol_codec/codecs/common.pxd":10
 *     return x * 2
 */
  return x * 2;
}

static int utility_after_the_last_marker(int x) {
  return x - 1;
}

int main(void) {
  return pick(1) + view_helper(0) + twice(0) + utility_after_the_last_marker(1) - 2;
}
'''


def test_markers_name_the_source_and_line():
    marks = cython_gcov.markers(C_SOURCE)
    assert [(src, line) for _, src, line in marks] == [
        ("cobol_codec/codecs/demo/demo.pyx", 3), ("cobol_codec/codecs/demo/demo.pyx", 4),
        ("cobol_codec/codecs/demo/demo.pyx", 5), ("cobol_codec/codecs/demo/demo.pyx", 7),
        ("cobol_codec/codecs/demo/demo.pyx", 8), ("cobol_codec/codecs/common.pxd", 9), ("cobol_codec/codecs/common.pxd", 10)]
    assert marks[0][0] == 1


def test_lines_belong_to_their_marker_within_its_function_only():
    """Hand-made gcov record: line numbers as in C_SOURCE; main (after every marker) and the
    utility function must not be credited to the last marker."""
    lines = C_SOURCE.splitlines()
    at = {text.strip(): no for no, text in enumerate(lines, 1)}
    fn = lambda name: next(no for no, t in enumerate(lines, 1) if t.startswith(f"static int {name}(") or  # noqa: E731
                           t.startswith(f"int {name}("))
    rec = {"functions": [{"start_line": fn("pick"), "end_line": at["return r;"] + 1},
                         {"start_line": fn("view_helper"), "end_line": fn("view_helper") + 2},
                         {"start_line": fn("twice"), "end_line": fn("twice") + 5},
                         {"start_line": fn("utility_after_the_last_marker"), "end_line": fn("utility_after_the_last_marker") + 2},
                         {"start_line": fn("main"), "end_line": fn("main") + 2}],
           "lines": [{"line_number": fn("pick"), "count": 1}, {"line_number": at["if (x > 0) {"], "count": 1},
                     {"line_number": at["r = 1;"], "count": 1}, {"line_number": at["r = 2;"], "count": 0},
                     {"line_number": at["return r;"], "count": 1},
                     {"line_number": at["return x + 1;"], "count": 1},
                     {"line_number": fn("twice"), "count": 0}, {"line_number": at["return x * 2;"], "count": 0},
                     {"line_number": at["return x - 1;"], "count": 1},
                     {"line_number": fn("main") + 1, "count": 1}]}
    got = cython_gcov.source_lines(C_SOURCE, rec)
    # line 3 heads pick() (its entry ran); the else branch (7) did not run
    assert got == {"cobol_codec/codecs/demo/demo.pyx": {3: True, 4: True, 5: True, 7: False, 8: True},
                   "cobol_codec/codecs/common.pxd": {9: False, 10: False}}


def test_a_line_compiled_into_two_modules_ran_if_it_ran_in_either():
    a = {"cobol_codec/codecs/common.pxd": {9: False, 10: True}}
    cython_gcov.merge(a, {"cobol_codec/codecs/common.pxd": {9: True, 11: False}, "cobol_codec/x.pyx": {1: False}})
    assert a == {"cobol_codec/codecs/common.pxd": {9: True, 10: True, 11: False}, "cobol_codec/x.pyx": {1: False}}
    assert cython_gcov.summary(a["cobol_codec/codecs/common.pxd"]) == (3, 2)


def test_real_gcc_counts_map_to_the_source_lines_that_ran(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    (build / "demo.c").write_text(C_SOURCE)
    subprocess.run(["gcc", "-O0", "--coverage", "-c", "build/demo.c", "-o", "build/demo.o"], cwd=tmp_path, check=True)
    subprocess.run(["gcc", "--coverage", "build/demo.o", "-o", "build/demo"], cwd=tmp_path, check=True)
    assert cython_gcov.measure(build, tmp_path)["cobol_codec/codecs/demo/demo.pyx"] == {
        3: False, 4: False, 5: False, 7: False, 8: False}     # built, never run: every line missed
    assert subprocess.run([str(build / "demo")], cwd=tmp_path).returncode == 0
    got = cython_gcov.measure(build, tmp_path)
    assert got["cobol_codec/codecs/demo/demo.pyx"] == {3: True, 4: True, 5: True, 7: False, 8: True}
    assert got["cobol_codec/codecs/common.pxd"] == {9: True, 10: True}
    assert not any(src.startswith("View") for src in got)
