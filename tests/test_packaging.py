"""An installed (not editable) package carries every data file the code reads: locales, rules, calendar, migrations."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_data_file_is_declared_as_package_data() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    missing = []
    for package, patterns in declared.items():
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() or path.suffix == ".py" or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT / package).as_posix()
            # setuptools globs do not cross "/" with "*": compare segment by segment.
            if not any(fnmatch.fnmatch(relative, pattern) and relative.count("/") == pattern.count("/")
                       for pattern in patterns):
                missing.append(f"{package}/{relative}")
    assert missing == [], f"not installed by `pip install .`: {missing}"
