"""An export as a list of cells (markdown + code), rendered as one plain .py script or one .ipynb notebook."""
from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """One step of an export: what it does (markdown) and the code that does it.

    `script_code`, when set, replaces `code` in the .py script (e.g. save a figure instead of showing it).
    """

    markdown: str
    code: str
    script_code: str | None = None


def _comment(markdown: str) -> str:
    """Markdown as a '# '-comment block, wrapped at 110 columns."""
    lines: list[str] = []
    for paragraph in markdown.strip().split("\n\n"):
        text = " ".join(line.strip() for line in paragraph.splitlines())
        text = text.replace("**", "").replace("`", "").lstrip("# ")  # a markdown heading becomes a plain line
        lines += textwrap.wrap(text, 108, break_long_words=False, break_on_hyphens=False) or [""]
        lines.append("")
    return "\n".join(f"# {line}".rstrip() for line in lines[:-1])


def to_script(cells: list[Cell], docstring: str) -> str:
    """The cells as one runnable Python script: a module docstring, then each step as a comment block and code."""
    wrapped = "\n\n".join(textwrap.fill(paragraph, 110) for paragraph in docstring.strip().split("\n\n"))
    parts = [f'"""{wrapped}\n"""']
    for cell in cells:
        code = (cell.script_code if cell.script_code is not None else cell.code).strip("\n")
        bar = "# " + "-" * 108
        parts.append(f"{bar}\n{_comment(cell.markdown)}\n{bar}\n{code}" if cell.markdown else code)
    return "\n\n\n".join(parts) + "\n"


def _source(text: str) -> list[str]:
    """Notebook source: a list of lines, each but the last ending in a newline (nbformat's layout)."""
    lines = text.strip("\n").split("\n")
    return [line + "\n" for line in lines[:-1]] + lines[-1:]


def to_notebook(cells: list[Cell], title: str, intro: str) -> str:
    """The cells as an nbformat v4 notebook (JSON text): a title cell, then markdown + code per step."""
    nb_cells: list[dict] = [{"cell_type": "markdown", "metadata": {}, "source": _source(f"# {title}\n\n{intro}")}]
    for index, cell in enumerate(cells):
        if cell.markdown:
            nb_cells.append({"cell_type": "markdown", "metadata": {}, "source": _source(cell.markdown),
                             "id": f"md-{index}"})
        nb_cells.append({"cell_type": "code", "metadata": {}, "source": _source(cell.code), "execution_count": None,
                         "outputs": [], "id": f"code-{index}"})
    nb_cells[0]["id"] = "title"
    notebook = {"cells": nb_cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                             "language_info": {"name": "python"}}}
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
