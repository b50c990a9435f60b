"""Sphinx configuration: MyST Markdown pages, the built-in alabaster theme, nothing downloaded."""

from __future__ import annotations

import re
from pathlib import Path

_INIT = Path(__file__).resolve().parent.parent / "airflow_provider_oac" / "__init__.py"
_VERSION = re.search(r'__version__ = "([^"]+)"', _INIT.read_text()).group(1)

project = "airflow-provider-oac"
author = "airflow-provider-oac contributors"
copyright = "airflow-provider-oac contributors"
version = release = _VERSION

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"airflow-provider-oac {_VERSION}"
html_static_path: list[str] = []
