"""Small notebooks written on the fly for the runner's tests."""
from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: str | Path, *cells: str, params: str = 'out_dir = "."', title: str | None = None) -> Path:
    """A python3 notebook at ``path``: an optional markdown ``title``, a ``parameters``-tagged
    cell with ``params``, then one code cell per ``cells``."""
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell(params)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = ([nbformat.v4.new_markdown_cell(title)] if title else []) + [parameters]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return Path(path)
