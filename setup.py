"""Build hook: ship the repository's top-level ``configs/`` inside the package.

``configs/`` stays at the repository's top level (where users and docs expect it);
building a wheel copies every ``configs/**/*.yaml`` to ``graphfm/configs/`` so that
:func:`graphfm.config.resolve_config` finds them wherever graphfm is installed. An
editable install reads the top-level folder directly. Everything else is in
``pyproject.toml``.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class build_py_with_configs(build_py):  # noqa: N801 - setuptools command naming
    """``build_py`` that also copies ``configs/**/*.yaml`` into ``<build>/graphfm/configs``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = ROOT / "configs"
        for path in sorted(source.rglob("*.yaml")):
            dest = Path(self.build_lib) / "graphfm" / "configs" / path.relative_to(source)
            self.mkpath(str(dest.parent))
            self.copy_file(str(path), str(dest))


setup(cmdclass={"build_py": build_py_with_configs})
