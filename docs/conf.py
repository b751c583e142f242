"""Sphinx configuration of the documentation site: the Markdown pages of ``docs/`` (MyST) and an API
reference generated from the docstrings by sphinx-autoapi (it reads the source, importing nothing,
so building needs neither Airflow nor a server). ``make docs`` builds it with warnings as errors."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

project = "airflow-provider-mix"
author = "airflow-provider-mix contributors"
release = re.search(r'__version__ = "([^"]+)"', (REPO / "provider/mix_provider/__init__.py").read_text())[1]
version = release
extensions = ["myst_parser", "autoapi.extension"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autoapi_type = "python"
autoapi_dirs = [str(REPO / "provider/mix_provider")]
autoapi_root = "api"
autoapi_add_toctree_entry = False
autoapi_keep_files = False
autoapi_options = ["members", "undoc-members", "show-inheritance", "show-module-summary"]
autoapi_python_class_content = "class"  # our classes document their parameters there
autoapi_member_order = "bysource"

# Type names such as ``bytes`` or ``T`` also name attributes and type variables of several modules, and
# re-exported constants cannot always be followed to their module: Sphinx would warn about each
# ambiguity although the rendered page is right. Every other warning fails the build.
suppress_warnings = ["ref.python", "autoapi.python_import_resolution"]

html_theme = "furo"
html_title = f"airflow-provider-mix {release}"
html_static_path: list[str] = []
