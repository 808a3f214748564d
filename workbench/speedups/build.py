"""Compile the Cython modules of this package: ``python -m workbench.speedups.build [_name ...]``.

Needs Cython, setuptools and a C compiler (the dev extras and Debian's gcc). A failed build is
reported and leaves the pure-Python paths in use (exit code 1 with ``--strict``).

``--sanitize`` builds the same modules for the fuzz targets (``tests/fuzz/``) instead: clang with
AddressSanitizer, UndefinedBehaviorSanitizer (every report fatal) and libFuzzer's coverage
hooks, and ``WB_CHECKED`` (the tight buffer mode of ``_buffer.pxi``), into
``workbench/speedups/build/sanitize/`` where nothing imports them by accident. They load only
in a Python started with the sanitizer runtime preloaded (``tests/fuzz/harness.py`` says how).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SANITIZE_DIR = HERE / "build" / "sanitize"
SANITIZE_FLAGS = [
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined,fuzzer-no-link",
    "-fno-sanitize-recover=all",
    # Python's CFLAGS carry -fwrapv, which makes signed overflow defined: UBSan would not see it
    "-fno-wrapv",
    "-DWB_CHECKED=1",
]


def build(sanitize: bool = False, names: tuple[str, ...] = ()) -> None:
    """Compile every module (or those of ``names``: ``_otlp``...)."""
    from Cython.Build import cythonize
    from setuptools import Extension
    from setuptools.dist import Distribution

    flags = [*SANITIZE_FLAGS, "-Wno-unused-function"] if sanitize else ["-O3", "-Wno-unused-function"]
    extensions = [
        Extension(
            f"workbench.speedups.{p.stem}",
            [str(p)],
            extra_compile_args=flags,
            extra_link_args=flags if sanitize else [],
        )
        for p in sorted(HERE.glob("*.pyx"))
        if not names or p.stem in names
    ]
    c_dir = HERE / "build" / ("c-sanitize" if sanitize else "c")
    dist = Distribution({"ext_modules": cythonize(extensions, quiet=True, language_level=3,
                                                  build_dir=str(c_dir), force=sanitize)})  # fmt: skip
    cmd = dist.get_command_obj("build_ext")
    cmd.build_temp = str(c_dir / "obj")  # type: ignore[attr-defined]
    if sanitize:
        # the sanitizers are clang's (libFuzzer's hooks need it); the runtime is preloaded, not linked
        os.environ["CC"] = "clang"
        os.environ["LDSHARED"] = "clang -shared"
        cmd.build_lib = str(SANITIZE_DIR)  # type: ignore[attr-defined]
        cmd.force = True  # type: ignore[attr-defined]
    else:
        cmd.inplace = True  # type: ignore[attr-defined]
    dist.package_dir = {"": str(HERE.parents[1])}  # type: ignore[attr-defined]
    dist.run_command("build_ext")


def sanitized_module(name: str) -> Path:
    """The sanitizer build of module ``name`` (``_json``...), built by ``--sanitize``."""
    found = sorted((SANITIZE_DIR / "workbench" / "speedups").glob(f"{name}.*.so"))
    if not found:
        raise FileNotFoundError(
            f"no sanitizer build of {name}: run python -m workbench.speedups.build --sanitize"
        )
    return found[0]


def main() -> int:
    args = sys.argv[1:]
    strict = "--strict" in args or "--sanitize" in args
    try:
        build(sanitize="--sanitize" in args, names=tuple(a for a in args if not a.startswith("--")))
    except Exception as exc:  # any build failure leaves the Python paths working
        print(f"speedups: not compiled ({exc}); the pure-Python paths run", file=sys.stderr)
        return 1 if strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
