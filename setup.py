"""Builds the codec's Cython layers; everything else is declared in pyproject.toml."""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent
CODEC_ROOT = HERE / "libs" / "codec"                 # holds the cobol_codec package
CODEC_PACKAGES = sorted(".".join(d.relative_to(CODEC_ROOT).parts)
                        for d in (CODEC_ROOT / "cobol_codec").rglob("*") if (d / "__init__.py").is_file())

# `make build` compiles the layers in place first; the editable install that follows only
# needs the package mapping and the `cobol` script, so it skips a second compile.
SKIP_EXT = os.environ.get("COBOL_SKIP_EXT") == "1"

extensions = [] if SKIP_EXT else [
    Extension(
        ".".join(pyx.relative_to(CODEC_ROOT).with_suffix("").parts),
        [str(pyx.relative_to(HERE))],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted((CODEC_ROOT / "cobol_codec").rglob("*.pyx"))
]

setup(
    packages=["cobol_codec", *CODEC_PACKAGES, "cobol_mesh", "cobol_proto", "cobol_federation",
              *find_packages(include=["services", "services.*"])],
    ext_modules=cythonize(
        extensions,
        language_level=3,
        include_path=[str(CODEC_ROOT)],          # `cimport cobol_codec.codecs.common`
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ) if extensions else [],
)
