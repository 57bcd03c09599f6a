#!/usr/bin/env python3
"""Line and branch coverage of the tests, the codec's Cython layers included (`make coverage`).

    .venv/bin/python scripts/coverage_run.py [--all] [--layers gcov|trace|none] [--tests PATH ...]
        [--budget SECONDS] [--json reports/figures.jsonl] [-- PYTEST ARGS]

- The Python code (libs/codec, libs/mesh less the generated protobuf modules, services) is
  measured by coverage.py, lines and branches.
- The Cython layers are measured from a copy built into build/<mode>/, rebuilt only where a
  .pyx is newer than its module. The normal -O3 build in libs/codec stays as it is: the
  benchmarks never see it.
  - --layers gcov (the default): compiled with gcc's `--coverage` at -O0. gcov's C line counts
    are mapped back to .pyx lines through Cython's source markers (scripts/cython_gcov.py).
    Lines only: C branches do not map to source branches. Unoptimised, but with no Python
    tracer: an --all run took 29 minutes here.
  - --layers trace: Cython's own plugin (Cython.Coverage) over a `linetrace=True`,
    `CYTHON_TRACE_NOGIL=1` copy. Lines and branches, but hundreds of times slower: a traced
    run of the whole unit suite does not finish in an hour here.
  - --layers none (COVERAGE_LAYERS=0; --python-only): the normal layers, Python only.
- A `sitecustomize` in build/site (put first on PYTHONPATH) makes `cobol_codec.*` load the
  copy, in pytest and in every Python process it starts (coverage's `patch = subprocess`
  measures those processes too: the `cobol` CLI in tests/unit, the services in e2e).
- Scope: tests/unit; with --all (COVERAGE_ALL=1 in make) tests/integration and tests/e2e too,
  which need the real Kafka, Redis and PostgreSQL (they start them like `make test`).
- Prints the totals, writes reports/coverage.md and appends `coverage.percent` figures
  (kind = line, branch, total; and layers_line for the Cython layers alone) to --json.
Exit status: pytest's, or 1 when no coverage data was written.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cython_gcov  # noqa: E402
import figures  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CODEC = ROOT / "libs" / "codec" / "cobol_codec"          # every .pyx below it is a compiled module
BUILD = ROOT / "build"
SITE = BUILD / "site"
MODES = ("gcov", "trace", "none")
WORK = ROOT / "build" / "coverage"
SOURCE = "scripts/coverage_run.py"
EXT = sysconfig.get_config_var("EXT_SUFFIX")

SITECUSTOMIZE = '''\
"""Written by scripts/coverage_run.py: load the Cython layers built for coverage (build/gcov
or build/trace) instead of the -O3 ones, in every Python process of a coverage run."""
import importlib.machinery
import importlib.util
import os
import sys

_DIR = os.environ.get("COBOL_COVERAGE_LAYERS", "")


class _CoverageLayers:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if not _DIR or not name.startswith("cobol_codec."):
            return None
        so = os.path.join(_DIR, *name.split(".")[1:]) + {ext!r}
        if not os.path.exists(so):
            return None
        loader = importlib.machinery.ExtensionFileLoader(name, so)
        return importlib.util.spec_from_file_location(name, so, loader=loader)


sys.meta_path.insert(0, _CoverageLayers())
'''

RC = """\
[run]
branch = true
parallel = true
data_file = {data}
plugins = Cython.Coverage
source =
    libs/codec/cobol_codec
    libs/mesh/cobol_mesh
    services
    build/trace/cobol_codec
omit =
    libs/mesh/cobol_proto/*
    */tests/*
# Python processes the tests start (the `cobol` CLI, services) are measured too.
patch = subprocess
# A service stopped with SIGTERM still writes its data.
sigterm = true

[report]
precision = 1
skip_empty = true
"""


def layers_dir(mode: str) -> Path:
    return BUILD / mode / "cobol_codec"


def copy_of(pyx: Path, mode: str) -> Path:
    return layers_dir(mode) / pyx.relative_to(CODEC)


def stale(pyx: Path, mode: str) -> bool:
    so = copy_of(pyx, mode).with_suffix(EXT)
    return not so.exists() or so.stat().st_mtime < pyx.stat().st_mtime


# What each mode compiles differently: trace adds Cython's line tracing; gcov adds gcc's counters.
BUILD_FLAGS = {
    "trace": dict(macros=[("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")], cflags=["-O0", "-g0"],
                  ldflags=[], linetrace=True),
    "gcov": dict(macros=[], cflags=["-O0", "-g0", "--coverage"], ldflags=["--coverage"], linetrace=False),
}


def build_layers(mode: str) -> None:
    """Cythonize copies of the .pyx (so the .c sits beside its .pyx, where Cython's coverage
    plugin and the gcov mapping look) and compile them into build/<mode>. The .pxd files are
    copied too (the codecs cimport their shared parts)."""
    pyxs = sorted(CODEC.rglob("*.pyx"))
    if not pyxs:
        raise SystemExit(f"no .pyx under {CODEC}")
    for pxd in CODEC.rglob("*.pxd"):
        copy_of(pxd, mode).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(pxd, copy_of(pxd, mode))
    for init in CODEC.rglob("__init__.py"):     # packages, so Cython names the modules fully
        copy_of(init, mode).parent.mkdir(parents=True, exist_ok=True)
        copy_of(init, mode).touch()
    todo = [p for p in pyxs if stale(p, mode)]
    where = layers_dir(mode).relative_to(ROOT)
    if not todo:
        print(f"coverage: the {mode} layers in {where} are up to date")
        return
    for p in todo:
        shutil.copy2(p, copy_of(p, mode))
    print(f"coverage: building {len(todo)} {mode} layer(s) into {where}", flush=True)
    # Run from ROOT so Cython records "build/<mode>/cobol_codec/.../x.pyx" as each code
    # object's file name (coverage resolves it from the same folder) and gcc records the
    # C file's path relative to ROOT (the gcov mapping reads it from there).
    sources = {".".join(("cobol_codec",) + p.relative_to(CODEC).with_suffix("").parts):
               str(copy_of(p, mode).relative_to(ROOT)) for p in todo}
    f = BUILD_FLAGS[mode]
    code = f"""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
sources = {sources!r}
exts = [Extension(name, [src], include_dirs=[numpy.get_include()], extra_compile_args={f["cflags"]!r},
                  extra_link_args={f["ldflags"]!r},
                  define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")] + {f["macros"]!r})
        for name, src in sources.items()]
setup(name="cobol-coverage-layers", script_args=["-q", "build_ext", "-j", "2", "-b", "build/{mode}", "-t", "build/{mode}/tmp"],
      ext_modules=cythonize(exts, language_level=3, quiet=True, include_path=["build/{mode}"],
                            compiler_directives={{"linetrace": {f["linetrace"]!r}, "boundscheck": False,
                                                  "wraparound": False, "cdivision": True}}))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"coverage: building the {mode} layers failed (exit {r.returncode})")


def reset_counters(mode: str) -> None:
    """gcc adds to the counters of earlier runs: start from zero."""
    if mode == "gcov":
        for gcda in (BUILD / "gcov").rglob("*.gcda"):
            gcda.unlink()


def write_support(mode: str) -> tuple[Path, dict]:
    """The coverage config and the environment of the run. Only `trace` puts Cython's plugin
    and the traced sources in the config; `none` loads the normal -O3 layers."""
    WORK.mkdir(parents=True, exist_ok=True)
    for old in WORK.glob(".coverage*"):
        old.unlink()
    (WORK / "layers").write_text(mode)
    rc = WORK / "coveragerc"
    text = RC.format(data=WORK / ".coverage")
    if mode != "trace":
        text = text.replace("plugins = Cython.Coverage\n", "").replace("    build/trace/cobol_codec\n", "")
    rc.write_text(text)
    if mode == "none":
        return rc, dict(os.environ)
    SITE.mkdir(parents=True, exist_ok=True)
    (SITE / "sitecustomize.py").write_text(SITECUSTOMIZE.format(ext=EXT))
    env = dict(os.environ, COBOL_COVERAGE_LAYERS=str(layers_dir(mode)),
               PYTHONPATH=os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")])))
    return rc, env


def totals(rc: Path, env: dict) -> tuple[dict, list[tuple[str, dict]]]:
    cov = [sys.executable, "-m", "coverage"]
    if list(WORK.glob(".coverage.*")):      # per-process files not combined yet (a report is rerun from .coverage)
        subprocess.run(cov + ["combine", "-q", f"--rcfile={rc}"], cwd=ROOT, env=env, check=True)
    out = WORK / "coverage.json"
    subprocess.run(cov + ["json", "-q", f"--rcfile={rc}", "-o", str(out)], cwd=ROOT, env=env, check=True)
    data = json.loads(out.read_text())
    files = sorted(data["files"].items(), key=lambda kv: kv[1]["summary"]["percent_covered"])
    return data["totals"], files


def pct(a: int, b: int) -> float:
    return 100.0 * a / b if b else 100.0


def with_layers(t: dict, files: list, layers: dict[str, dict[int, bool]]) -> tuple[dict, list, tuple[int, int]]:
    """Add the gcov-measured .pyx lines to coverage.py's totals and file rows (lines only: no
    branches). Returns the new totals, the rows sorted by cover, and the layers' (lines, run)."""
    t = dict(t)
    rows = list(files)
    all_lines = all_run = 0
    for src, lines in sorted(layers.items()):
        n, run = cython_gcov.summary(lines)
        all_lines, all_run = all_lines + n, all_run + run
        rows.append(("libs/codec/" + src, {"summary": {
            "num_statements": n, "covered_lines": run, "missing_lines": n - run, "num_branches": 0,
            "num_partial_branches": 0, "covered_branches": 0, "percent_covered": pct(run, n)}}))
    t["covered_lines"] += all_run
    t["num_statements"] += all_lines
    t["percent_covered"] = pct(t["covered_lines"] + t["covered_branches"], t["num_statements"] + t["num_branches"])
    rows.sort(key=lambda kv: kv[1]["summary"]["percent_covered"])
    return t, rows, (all_lines, all_run)


LAYERS_TEXT = {
    "gcov": "The Cython layers are measured from a copy compiled with gcc's `--coverage` (build/gcov); "
            "gcov's C line counts are mapped to .pyx lines (scripts/cython_gcov.py): lines only, "
            "their branches are not in the branch figure.",
    "trace": "The Cython layers are measured through a line-traced copy (build/trace/cobol_codec, Cython.Coverage).",
    "none": "The Cython layers are not in these figures: the tests ran the normal -O3 build.",
}


def markdown(t: dict, files: list, scope: str, status: int | None, now: dt.datetime, mode: str,
             layers: tuple[int, int] | None = None) -> str:
    lines = ["# Coverage", "",
             f"Run {now.strftime('%Y-%m-%d %H:%M UTC')} by `make coverage` (`scripts/coverage_run.py`) over {scope}; "
             + (f"pytest exit status {status}. " if status is not None else
              "reported from the data an interrupted run left (`--report-only`). ") + LAYERS_TEXT[mode], "",
             f"- lines: {t['covered_lines']} of {t['num_statements']} = **{pct(t['covered_lines'], t['num_statements']):.1f}%**",
             f"- branches: {t['covered_branches']} of {t['num_branches']} = "
             f"**{pct(t['covered_branches'], t['num_branches']):.1f}%**"
             + (" (Python only)" if mode == "gcov" else ""),
             f"- total (lines and branches together, as coverage.py counts): **{t['percent_covered']:.1f}%**"]
    if layers:
        lines.append(f"- of the lines, the Cython layers: {layers[1]} of {layers[0]} = **{pct(layers[1], layers[0]):.1f}%**")
    lines += ["", "| file | lines | missed | branches | partial | cover |", "|---|---|---|---|---|---|"]
    for name, f in files:
        s = f["summary"]
        lines.append(f"| {name} | {s['num_statements']} | {s['missing_lines']} | {s.get('num_branches', 0)} | "
                     f"{s.get('num_partial_branches', 0)} | {s['percent_covered']:.1f}% |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", default=os.environ.get("COVERAGE_ALL") == "1",
                    help="also tests/integration and tests/e2e (default: COVERAGE_ALL=1)")
    ap.add_argument("--out", default=str(ROOT / "reports" / "coverage.md"))
    ap.add_argument("--json", metavar="OUT", help="append coverage.percent figures to this JSON-lines file")
    ap.add_argument("--tests", nargs="+", metavar="PATH", help="test files or folders instead of the suites")
    env_mode = os.environ.get("COVERAGE_LAYERS", "gcov")
    ap.add_argument("--layers", choices=MODES, default="none" if env_mode == "0" else env_mode,
                    help="how the Cython layers are measured: gcov (default), trace (Cython's plugin; "
                         "hundreds of times slower), none (Python only); default: COVERAGE_LAYERS "
                         "(0 means none)")
    ap.add_argument("--python-only", action="store_const", dest="layers", const="none",
                    help="the same as --layers none")
    ap.add_argument("--budget", type=float, default=0, metavar="SECONDS",
                    help="stop pytest (SIGTERM; its data is kept) after this long and report what ran (0 = no limit)")
    ap.add_argument("--report-only", metavar="SCOPE",
                    help="no test run: combine the data an interrupted run left in build/coverage and "
                         "report it under this scope text (say what ran)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    a = ap.parse_args(argv)
    if a.layers not in MODES:
        ap.error(f"COVERAGE_LAYERS={env_mode!r}: expected one of {', '.join(MODES)} or 0")
    if a.budget < 0:
        ap.error("--budget must be >= 0")
    suites = a.tests or ["tests/unit"] + (["tests/integration", "tests/e2e"] if a.all else [])
    missing = [t for t in suites if not (ROOT / t.split("::")[0]).exists()]
    if missing:
        ap.error(f"--tests: no such path {', '.join(missing)}")
    scope = " + ".join(suites) + (f" with pytest {' '.join(a.pytest_args)}" if a.pytest_args else "")
    if a.report_only:
        saved = WORK / "layers"
        return report(a, a.report_only, None, mode=saved.read_text().strip() if saved.exists() else "none")
    if a.layers == "none":
        scope += " (Python only: the Cython layers not measured)"
    else:
        build_layers(a.layers)
        reset_counters(a.layers)
    rc, env = write_support(a.layers)
    cmd = [sys.executable, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", "-q", "-p", "no:cacheprovider",
           *suites, *a.pytest_args]
    print("coverage: " + " ".join(cmd[1:]), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        status = proc.wait(timeout=a.budget or None)
    except subprocess.TimeoutExpired:
        # pytest and every process it started (their own group): coverage's `sigterm = true`
        # writes each one's data before it exits.
        os.killpg(proc.pid, signal.SIGTERM)
        status = proc.wait(timeout=120)
        scope += f" (stopped after the {a.budget:.0f} s budget: a partial run)"
        print(f"coverage: stopped pytest after {a.budget:.0f} s; the figures cover the tests that ran", flush=True)
    except KeyboardInterrupt:                # its own session: Ctrl-C must reach it through us
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        raise
    if status < 0 and "partial" not in scope:     # the budget's stop says so already
        scope += f" (pytest ended by signal {-status}: a partial run)"
    return report(a, scope, status, mode=a.layers, env=env)


def report(a, scope: str, status: int | None, mode: str, env: dict | None = None) -> int:
    """Combine the run's data, print the totals, write the Markdown and the figures."""
    rc = WORK / "coveragerc"
    env = env or dict(os.environ)
    if not list(WORK.glob(".coverage*")) or not rc.exists():
        print("coverage: no coverage data was written", file=sys.stderr)
        return 1
    t, files = totals(rc, env)
    layer_totals = None
    if mode == "gcov":
        t, files, layer_totals = with_layers(t, files, cython_gcov.measure(BUILD / "gcov" / "tmp", ROOT))
    line, branch = pct(t["covered_lines"], t["num_statements"]), pct(t["covered_branches"], t["num_branches"])
    layers = [(n, f) for n, f in files if n.endswith((".pyx", ".pxd"))]
    print(f"coverage over {scope}: lines {line:.1f}%, branches {branch:.1f}%, total {t['percent_covered']:.1f}% "
          f"({len(files)} files, {len(layers)} Cython sources)")
    for n, f in layers:
        print(f"  {n}: {f['summary']['percent_covered']:.1f}%")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(t, files, scope, status, dt.datetime.now(dt.timezone.utc), mode, layer_totals))
    print(f"wrote {out}")
    scope_label = ("unit+integration+e2e" if a.all else "unit") if not a.tests else "subset"
    if a.pytest_args:
        scope_label += ", filtered"
    scope_label += {"none": ", python only", "gcov": ", cython by gcov", "trace": ", cython traced"}[mode]
    if "partial" in scope or a.report_only:
        scope_label += ", partial"
    kinds = [("line", line), ("branch", branch), ("total", t["percent_covered"])]
    if layer_totals:
        kinds.append(("layers_line", pct(layer_totals[1], layer_totals[0])))
    for kind, value in kinds:
        figures.append(a.json, source=SOURCE, name="coverage.percent", value=value, unit="%", peer="cobol",
                       kind=kind, scope=scope_label)
    return 0 if status is None else status


if __name__ == "__main__":
    sys.exit(main())
