#!/usr/bin/env python3
"""Line and branch coverage of the tests, the codec's Cython layers included (`make coverage`).

    .venv/bin/python scripts/coverage_run.py [--all] [--python-only] [--tests PATH ...] [--budget SECONDS]
        [--json reports/figures.jsonl] [-- PYTEST ARGS]

- Builds a *traced copy* of the Cython layers in build/traced/ (Cython `linetrace=True`,
  `CYTHON_TRACE_NOGIL=1`, -O0: quick to compile), only where a .pyx is newer than its traced module. The normal
  -O3 build in libs/codec stays as it is: the benchmarks never see the traced code.
- --python-only (COVERAGE_LAYERS=0 in make) skips the traced copy: the tests run the normal
  layers and only the Python code is measured. Line tracing makes the codec 100s of times
  slower (one small frame in tests/unit/analytics took minutes), so a traced run of the whole
  unit suite does not finish in an hour here.
- Runs pytest under coverage.py with Cython's plugin (Cython.Coverage). A `sitecustomize`
  in build/traced/site (put first on PYTHONPATH) makes the compiled `cobol_codec.*` modules load the traced
  modules, in pytest and in every Python process it starts (coverage's `patch = subprocess`
  measures those processes too: the `cobol` CLI in tests/unit, the services in e2e).
- Scope: tests/unit; with --all (COVERAGE_ALL=1 in make) tests/integration and tests/e2e too,
  which need the real Kafka, Redis and PostgreSQL (they start them like `make test`).
- Measures libs/codec, libs/mesh (less the generated protobuf modules), services and the traced
  layers; prints the totals, writes reports/coverage.md and appends `coverage.percent`
  figures (kind = line, branch, total) to --json.
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
import figures  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CODEC = ROOT / "libs" / "codec" / "cobol_codec"          # every .pyx below it is a compiled module
TRACED = ROOT / "build" / "traced"
TRACED_LAYERS = TRACED / "cobol_codec"
SITE = TRACED / "site"
WORK = ROOT / "build" / "coverage"
SOURCE = "scripts/coverage_run.py"
EXT = sysconfig.get_config_var("EXT_SUFFIX")

SITECUSTOMIZE = '''\
"""Written by scripts/coverage_run.py: load the line-traced Cython layers (build/traced)
instead of the -O3 ones, in every Python process of a coverage run."""
import importlib.machinery
import importlib.util
import os
import sys

_DIR = os.environ.get("COBOL_TRACED_LAYERS", "")


class _TracedLayers:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if not _DIR or not name.startswith("cobol_codec."):
            return None
        so = os.path.join(_DIR, *name.split(".")[1:]) + {ext!r}
        if not os.path.exists(so):
            return None
        loader = importlib.machinery.ExtensionFileLoader(name, so)
        return importlib.util.spec_from_file_location(name, so, loader=loader)


sys.meta_path.insert(0, _TracedLayers())
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
    build/traced/cobol_codec
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


def traced_copy(pyx: Path) -> Path:
    return TRACED_LAYERS / pyx.relative_to(CODEC)


def stale(pyx: Path) -> bool:
    so = traced_copy(pyx).with_suffix(EXT)
    return not so.exists() or so.stat().st_mtime < pyx.stat().st_mtime


def build_traced() -> None:
    """Cythonize copies of the .pyx (so the .c sits beside its .pyx, where Cython's coverage
    plugin looks) with line tracing, then compile them into build/traced. The .pxd files are
    copied too (the codecs cimport their shared parts)."""
    pyxs = sorted(CODEC.rglob("*.pyx"))
    if not pyxs:
        raise SystemExit(f"no .pyx under {CODEC}")
    for pxd in CODEC.rglob("*.pxd"):
        traced_copy(pxd).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(pxd, traced_copy(pxd))
    for init in CODEC.rglob("__init__.py"):     # packages, so Cython names the modules fully
        traced_copy(init).parent.mkdir(parents=True, exist_ok=True)
        traced_copy(init).touch()
    todo = [p for p in pyxs if stale(p)]
    if not todo:
        print(f"coverage: traced layers in {TRACED_LAYERS.relative_to(ROOT)} are up to date")
        return
    for p in todo:
        shutil.copy2(p, traced_copy(p))
    print(f"coverage: building {len(todo)} traced layer(s) into {TRACED_LAYERS.relative_to(ROOT)}", flush=True)
    # Run from ROOT so Cython records "build/traced/cobol_codec/.../x.pyx" as each code
    # object's file name: coverage resolves it from the same folder when pytest runs.
    sources = {".".join(("cobol_codec",) + p.relative_to(CODEC).with_suffix("").parts):
               str(traced_copy(p).relative_to(ROOT)) for p in todo}
    code = f"""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
sources = {sources!r}
exts = [Extension(name, [src], include_dirs=[numpy.get_include()], extra_compile_args=["-O0", "-g0"],
                  define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                                 ("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")])
        for name, src in sources.items()]
setup(name="cobol-traced-layers", script_args=["-q", "build_ext", "-j", "2", "-b", "build/traced", "-t", "build/traced/tmp"],
      ext_modules=cythonize(exts, language_level=3, quiet=True, include_path=["build/traced"],
                            compiler_directives={{"linetrace": True, "boundscheck": False,
                                                  "wraparound": False, "cdivision": True}}))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"coverage: building the traced layers failed (exit {r.returncode})")


def write_support(traced: bool) -> tuple[Path, dict]:
    """The coverage config and the environment of the run. Untraced, the tests load the normal
    -O3 layers and only the Python code is measured (the Cython plugin and the traced copy
    stay out)."""
    WORK.mkdir(parents=True, exist_ok=True)
    for old in WORK.glob(".coverage*"):
        old.unlink()
    rc = WORK / "coveragerc"
    text = RC.format(data=WORK / ".coverage")
    if not traced:
        text = text.replace("plugins = Cython.Coverage\n", "").replace("    build/traced/cobol_codec\n", "")
    rc.write_text(text)
    if not traced:
        return rc, dict(os.environ)
    SITE.mkdir(parents=True, exist_ok=True)
    (SITE / "sitecustomize.py").write_text(SITECUSTOMIZE.format(ext=EXT))
    env = dict(os.environ, COBOL_TRACED_LAYERS=str(TRACED_LAYERS),
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


def markdown(t: dict, files: list, scope: str, status: int, now: dt.datetime, traced: bool) -> str:
    layers = ("The Cython layers are measured through a line-traced copy (build/traced/cobol_codec, Cython.Coverage)."
              if traced else "The Cython layers are not in these figures: the tests ran the normal -O3 build.")
    lines = ["# Coverage", "",
             f"Run {now.strftime('%Y-%m-%d %H:%M UTC')} by `make coverage` (`scripts/coverage_run.py`) over {scope}; "
             + (f"pytest exit status {status}. " if status is not None else
              "reported from the data an interrupted run left (`--report-only`). ") + layers, "",
             f"- lines: {t['covered_lines']} of {t['num_statements']} = **{pct(t['covered_lines'], t['num_statements']):.1f}%**",
             f"- branches: {t['covered_branches']} of {t['num_branches']} = "
             f"**{pct(t['covered_branches'], t['num_branches']):.1f}%**",
             f"- total (coverage.py's combined figure): **{t['percent_covered']:.1f}%**", "",
             "| file | lines | missed | branches | partial | cover |", "|---|---|---|---|---|---|"]
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
    ap.add_argument("--python-only", action="store_true", default=os.environ.get("COVERAGE_LAYERS") == "0",
                    help="measure the Python code only, with the normal -O3 layers (default: COVERAGE_LAYERS=0); "
                         "line-traced layers make codec-heavy tests minutes long each")
    ap.add_argument("--budget", type=float, default=0, metavar="SECONDS",
                    help="stop pytest (SIGTERM; its data is kept) after this long and report what ran (0 = no limit)")
    ap.add_argument("--report-only", metavar="SCOPE",
                    help="no test run: combine the data an interrupted run left in build/coverage and "
                         "report it under this scope text (say what ran)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    a = ap.parse_args(argv)
    if a.budget < 0:
        ap.error("--budget must be >= 0")
    suites = a.tests or ["tests/unit"] + (["tests/integration", "tests/e2e"] if a.all else [])
    missing = [t for t in suites if not (ROOT / t.split("::")[0]).exists()]
    if missing:
        ap.error(f"--tests: no such path {', '.join(missing)}")
    scope = " + ".join(suites) + (f" with pytest {' '.join(a.pytest_args)}" if a.pytest_args else "")
    if a.report_only:
        rc = WORK / "coveragerc"
        return report(a, a.report_only, None, traced=rc.exists() and "Cython.Coverage" in rc.read_text())
    if a.python_only:
        scope += " (Python only: the Cython layers not traced)"
    else:
        build_traced()
    rc, env = write_support(traced=not a.python_only)
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
    return report(a, scope, status, traced=not a.python_only, env=env)


def report(a, scope: str, status: int | None, traced: bool, env: dict | None = None) -> int:
    """Combine the run's data, print the totals, write the Markdown and the figures."""
    rc = WORK / "coveragerc"
    env = env or dict(os.environ)
    if not list(WORK.glob(".coverage*")) or not rc.exists():
        print("coverage: no coverage data was written", file=sys.stderr)
        return 1
    t, files = totals(rc, env)
    line, branch = pct(t["covered_lines"], t["num_statements"]), pct(t["covered_branches"], t["num_branches"])
    layers = [(n, f) for n, f in files if n.endswith(".pyx")]
    print(f"coverage over {scope}: lines {line:.1f}%, branches {branch:.1f}%, total {t['percent_covered']:.1f}% "
          f"({len(files)} files, {len(layers)} Cython layers)")
    for n, f in layers:
        print(f"  {n}: {f['summary']['percent_covered']:.1f}%")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(t, files, scope, status, dt.datetime.now(dt.timezone.utc), traced=traced))
    print(f"wrote {out}")
    scope_label = ("unit+integration+e2e" if a.all else "unit") if not a.tests else "subset"
    if a.pytest_args:
        scope_label += ", filtered"
    if not traced:
        scope_label += ", python only"
    if "partial" in scope or a.report_only:
        scope_label += ", partial"
    for kind, value in (("line", line), ("branch", branch), ("total", t["percent_covered"])):
        figures.append(a.json, source=SOURCE, name="coverage.percent", value=value, unit="%", peer="cobol",
                       kind=kind, scope=scope_label)
    return 0 if status is None else status


if __name__ == "__main__":
    sys.exit(main())
