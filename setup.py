"""Declares the compiled scanner; everything else is in pyproject.toml.

The extension is optional: where it cannot be built (no C compiler), the package still
installs, with the pure-Python scanner, and v8scan says so once when it runs. Wheel
builds set V8SCAN_REQUIRE_EXTENSION=1, so that a wheel never ships without it.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# No debug symbols in the shipped extension: a stripped .so is a fifth of the size.
if sys.platform == "darwin":
    LINK_ARGS = ["-Wl,-S,-x"]
elif sys.platform.startswith("linux"):
    LINK_ARGS = ["-s"]
else:
    LINK_ARGS = []


class OptionalBuildExt(build_ext):
    """build_ext that, where the compiler fails, leaves the extension out with a warning."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler found: setuptools raises before building
            self._left_out(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # the compiler ran and failed
            self._left_out(exc)

    @staticmethod
    def _left_out(exc: Exception) -> None:
        if os.environ.get("V8SCAN_REQUIRE_EXTENSION"):
            raise exc
        print(f"WARNING: v8scan's compiled scanner was not built ({exc}); "
              "v8scan is installed with its pure-Python scanner, which is much slower",
              file=sys.stderr)


def extensions() -> list:
    from Cython.Build import cythonize

    return cythonize(
        [Extension("v8scan.scan._scan", ["src/v8scan/scan/_scan.pyx"],
                   extra_compile_args=["-O3", "-g0"], extra_link_args=LINK_ARGS)],
        language_level=3,
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
