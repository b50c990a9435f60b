"""Sphinx configuration: MyST Markdown pages, the built-in alabaster theme, nothing downloaded.

The API pages use autodoc, which imports the package and so Airflow: a throw-away AIRFLOW_HOME
keeps the build from touching (or creating) ~/airflow.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
_INIT = _REPO / "airflow_provider_oac" / "__init__.py"
_VERSION = re.search(r'__version__ = "([^"]+)"', _INIT.read_text()).group(1)

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="oac-docs-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
sys.path.insert(0, str(_REPO))

project = "airflow-provider-oac"
author = "airflow-provider-oac contributors"
copyright = "airflow-provider-oac contributors"
version = release = _VERSION

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"exclude-members": "template_fields, template_ext, ui_color, operator_extra_links"}

html_theme = "alabaster"
html_title = f"airflow-provider-oac {_VERSION}"
html_static_path: list[str] = []
