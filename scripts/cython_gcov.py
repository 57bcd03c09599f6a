"""Line coverage of the Cython layers from gcc's own counters (gcov), mapped back to .pyx lines.

Why not Cython's line tracing: it calls the Python tracer on every line of the nogil loops,
which makes the codec hundreds of times slower, and the test suite does not finish. A build
compiled with `--coverage` counts C lines in C, with no Python tracer involved.

The mapping: Cython writes a comment `/* "cobol_codec/x/y.pyx":123` before the C code of each
source line. Every executable C line belongs to the nearest marker above it, when that marker
is in the same C function or directly heads it (Cython puts a `def`/`cdef` line's marker just
above the C function). Utility code after the module's last marker belongs to no marker. A
source line is executable when any C line belongs to it, and run when any of them ran; a line
compiled into several modules (inline functions of a .pxd) counts as run when it ran in any.
Branches are not mapped: the C branches of one source line do not match its source branches.
"""
from __future__ import annotations

import bisect
import json
import re
import subprocess
from pathlib import Path

MARKER = re.compile(r'^\s*/\* "(?P<src>[^"]+\.(?:pyx|pxd))":(?P<line>\d+)$')


def markers(c_text: str) -> list[tuple[int, str, int]]:
    """(C line, source file, source line) of every marker in a Cython-generated C file."""
    out = []
    for no, text in enumerate(c_text.splitlines(), 1):
        m = MARKER.match(text)
        if m:
            out.append((no, m["src"], int(m["line"])))
    return out


def source_lines(c_text: str, gcov_file: dict, prefix: str = "cobol_codec/") -> dict[str, dict[int, bool]]:
    """{source: {line: ran}} for one C file, from gcov's JSON record of it (`lines`, `functions`).
    Only sources whose marker path starts with `prefix` count (not Cython's own View.MemoryView)."""
    marks = markers(c_text)
    starts = [m[0] for m in marks]
    funcs = sorted((f["start_line"], f["end_line"]) for f in gcov_file.get("functions", []))
    fstarts = [f[0] for f in funcs]

    def function_of(c_line: int) -> int | None:
        i = bisect.bisect_right(fstarts, c_line) - 1
        return i if i >= 0 and funcs[i][0] <= c_line <= funcs[i][1] else None

    def owner(c_line: int) -> int | None:
        """The function a marker belongs to: the one around it, else the one it heads."""
        inside = function_of(c_line)
        if inside is not None:
            return inside
        nxt = bisect.bisect_right(fstarts, c_line)
        return nxt if nxt < len(funcs) else None

    owners = [owner(mark_line) for mark_line, _, _ in marks]     # once per marker, not per C line
    out: dict[str, dict[int, bool]] = {}
    for rec in gcov_file.get("lines", []):
        c_line = rec["line_number"]
        i = bisect.bisect_right(starts, c_line) - 1
        if i < 0:
            continue
        _, src, line = marks[i]
        fn = function_of(c_line)
        if fn is None or owners[i] != fn or not src.startswith(prefix):
            continue
        seen = out.setdefault(src, {})
        seen[line] = seen.get(line, False) or rec["count"] > 0
    return out


def merge(into: dict[str, dict[int, bool]], more: dict[str, dict[int, bool]]) -> None:
    for src, lines in more.items():
        have = into.setdefault(src, {})
        for line, ran in lines.items():
            have[line] = have.get(line, False) or ran


def gcov_json(gcno: Path, cwd: Path) -> dict:
    """gcov's JSON for one object (its .gcda beside the .gcno; none means nothing ran)."""
    r = subprocess.run(["gcov", "--json-format", "--stdout", "-o", str(gcno.parent), str(gcno)],
                       cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"gcov failed on {gcno}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def measure(objects: Path, root: Path, prefix: str = "cobol_codec/") -> dict[str, dict[int, bool]]:
    """{source: {line: ran}} over every object compiled with --coverage under `objects`.
    C paths in gcov's output are relative to `root` (where the build ran)."""
    result: dict[str, dict[int, bool]] = {}
    for gcno in sorted(objects.rglob("*.gcno")):
        for f in gcov_json(gcno, root).get("files", []):
            c_path = root / f["file"]
            if c_path.suffix != ".c" or not c_path.exists():
                continue
            merge(result, source_lines(c_path.read_text(errors="replace"), f, prefix))
    return result


def summary(lines: dict[int, bool]) -> tuple[int, int]:
    """(statements, run) of one source."""
    return len(lines), sum(lines.values())
