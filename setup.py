"""Build step: put the top-level data folders into the package.

``checks/`` (profiles), ``bundles/`` (manifests) and ``schemas/`` live at the
top of the source tree, which is their only copy in git. Wheels (built from
the tree or from the sdist, which carries the folders through MANIFEST.in)
get a copy under ``harborkit/data/``, where ``harborkit.resources`` finds it.
Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA_KINDS = ("checks", "bundles", "schemas")


class BuildPyWithData(build_py):
    """``build_py`` that also copies the data folders into ``harborkit/data``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the top-level folders themselves
        target = Path(self.build_lib) / "harborkit" / "data"
        for kind in DATA_KINDS:
            src = HERE / kind
            if not src.is_dir():
                raise SystemExit(f"setup.py: data folder {src} is missing")
            shutil.rmtree(target / kind, ignore_errors=True)
            shutil.copytree(src, target / kind)


setup(cmdclass={"build_py": BuildPyWithData})
