"""Keep the code snippets in ``docs/*.md`` and ``README.md`` equal to the marked regions of ``dags_examples/``.

In a doc, a line ``<!-- snippet: NAME -->`` followed by a fenced python block is filled with the
lines between ``# [START NAME]`` and ``# [END NAME]`` of an example DAG (dedented).
``python scripts/sync_docs.py`` rewrites the docs; ``--check`` exits 1 if any doc is stale.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_REGION = re.compile(r"^\s*# \[START (\w+)\]\n(.*?)^\s*# \[END \1\]", re.S | re.M)
_SNIPPET = re.compile(r"(<!-- snippet: (\w+) -->\n```python\n)(.*?)(```)", re.S)


def regions() -> dict[str, str]:
    """Every marked region of the example DAGs, by name."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "dags_examples").glob("*.py")):
        for name, body in _REGION.findall(path.read_text()):
            found[name] = textwrap.dedent(body)
    return found


def render(doc: str, snippets: dict[str, str]) -> str:
    """The doc with every snippet block refilled; unknown snippet names raise KeyError."""
    return _SNIPPET.sub(lambda m: m.group(1) + snippets[m.group(2)] + m.group(4), doc)


def main(argv: list[str]) -> int:
    """Rewrite (or with ``--check``, verify) every doc under ``docs/`` and the README."""
    snippets = regions()
    stale = []
    for doc in [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]:
        text = doc.read_text()
        new = render(text, snippets)
        if new != text:
            stale.append(doc.name)
            if "--check" not in argv:
                doc.write_text(new)
    if stale and "--check" in argv:
        print(f"stale snippets in: {', '.join(stale)}; run python scripts/sync_docs.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
