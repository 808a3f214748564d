"""Compile the Cython modules of this package in place: ``python -m workbench.speedups.build``.

Needs Cython, setuptools and a C compiler (the dev extras and Debian's gcc). A failed build is
reported and leaves the pure-Python paths in use (exit code 1 with ``--strict``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build() -> None:
    from Cython.Build import cythonize
    from setuptools import Extension
    from setuptools.dist import Distribution

    extensions = [
        Extension(
            f"workbench.speedups.{p.stem}", [str(p)], extra_compile_args=["-O3", "-Wno-unused-function"]
        )
        for p in sorted(HERE.glob("*.pyx"))
    ]
    dist = Distribution({"ext_modules": cythonize(extensions, quiet=True, language_level=3,
                                                  build_dir=str(HERE / "build"))})  # fmt: skip
    cmd = dist.get_command_obj("build_ext")
    cmd.inplace = True  # type: ignore[attr-defined]
    cmd.build_temp = str(HERE / "build")  # type: ignore[attr-defined]
    dist.package_dir = {"": str(HERE.parents[1])}  # type: ignore[attr-defined]
    dist.run_command("build_ext")


def main() -> int:
    strict = "--strict" in sys.argv[1:]
    try:
        build()
    except Exception as exc:  # any build failure leaves the Python paths working
        print(f"speedups: not compiled ({exc}); the pure-Python paths run", file=sys.stderr)
        return 1 if strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
