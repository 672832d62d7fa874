"""Declares the Cython extension; everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("v8scan.scan._scan", ["src/v8scan/scan/_scan.pyx"], extra_compile_args=["-O3"])],
        language_level=3,
    )
)
