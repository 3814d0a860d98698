"""docs/ARCHITECTURE.md stays true to the code: every subpackage is named in it, and every
module file it names (``something.py``) exists in the package (or in tests/ or benchmarks/)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
PACKAGE = ROOT / "msknb"


def test_every_subpackage_is_in_the_architecture_doc():
    subpackages = sorted(p.parent.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("__init__.py")
                         if p.parent != PACKAGE)
    top = sorted({s.split("/")[0] for s in subpackages})
    missing = [s for s in top if f"{s}/" not in DOC]
    assert not missing, f"subpackages missing from docs/ARCHITECTURE.md: {missing}"


def test_every_module_the_doc_names_exists():
    names = set(re.findall(r"`(?:[\w/]+/)?(\w+)\.py`", DOC)) | set(re.findall(r"(?<![\w/`])(\w+)\.py\b", DOC))
    files = {p.stem for p in PACKAGE.rglob("*.py")} | {p.stem for d in ("tests", "benchmarks") for p in (ROOT / d).glob("*.py")}
    missing = sorted(n for n in names if n not in files)
    assert not missing, f"docs/ARCHITECTURE.md names modules that do not exist: {missing}"
