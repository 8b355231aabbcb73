"""Read the code and console blocks of the docs, so tests can build and run what the docs show.

Conventions (docs/plugins.md, docs/hooks.md, docs/testing.md):

* a fenced block whose first line is ``# file: PATH`` is that file of the tutorial's package;
  ``# file: PATH (continued)`` appends to it (two blank lines between the parts);
* a fenced block whose first line is ``# example: NAME`` is a runnable example;
* in a ``console`` block, ``$ `` lines are commands and the lines after each are its output;
  ``…`` in the output stands for anything (timings, paths), a line of just ``…`` for lines left
  out; a table shows its header line (┃) and the rows that matter, and may leave columns out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
FILE = re.compile(r"^# file: (\S+)( \(continued\))?$")
EXAMPLE = re.compile(r"^# example: (\S+)$")


@dataclass
class FileBlock:
    path: str
    text: str
    continued: bool


@dataclass
class Command:
    line: str
    output: list[str] = field(default_factory=list)


def fenced(markdown: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(markdown)]


def events(markdown: str) -> list[FileBlock | Command]:
    """File blocks and console commands in the order a reader meets them."""
    out: list[FileBlock | Command] = []
    for lang, body in fenced(markdown):
        first, _, rest = body.partition("\n")
        match = FILE.match(first)
        if match:
            out.append(FileBlock(match.group(1), rest, bool(match.group(2))))
        elif lang == "console":
            for line in body.splitlines():
                if line.startswith("$ "):
                    out.append(Command(line[2:]))
                elif out and isinstance(out[-1], Command):
                    out[-1].output.append(line)
    return out


def apply(files: dict[str, str], block: FileBlock) -> None:
    """Add one file block to ``files`` (a continuation appends; a repeated path without it is an error)."""
    if block.continued:
        if block.path not in files:
            raise AssertionError(f"{block.path} is continued before it is started")
        files[block.path] = files[block.path].rstrip("\n") + "\n\n\n" + block.text
    else:
        if block.path in files:
            raise AssertionError(f"{block.path} is written twice; mark the second block '(continued)'")
        files[block.path] = block.text


def final_files(markdown: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for event in events(markdown):
        if isinstance(event, FileBlock):
            apply(files, event)
    return files


def examples(markdown: str) -> dict[str, str]:
    """Runnable examples by name (``# example: NAME`` first line)."""
    out = {}
    for _, body in fenced(markdown):
        first, _, rest = body.partition("\n")
        match = EXAMPLE.match(first)
        if match:
            out[match.group(1)] = rest
    return out


# -- comparing documented output with real output ------------------------------------------------

def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("…")), re.S)


def _cells(line: str, sep: str) -> list[str] | None:
    """A rich table line split into stripped cells, if it is one (sep: ┃ header, │ row)."""
    line = line.strip()
    return [cell.strip() for cell in line.strip(sep).split(sep)] if line.startswith(sep) else None


def _tables(lines: list[str]) -> list[tuple[list[str], list[list[str]]]]:
    """(header, rows) of each rich table in the lines."""
    tables: list[tuple[list[str], list[list[str]]]] = []
    for line in lines:
        header, row = _cells(line, "┃"), _cells(line, "│")
        if header is not None:
            tables.append((header, []))
        elif row is not None and tables:
            tables[-1][1].append(row)
    return tables


def _table_mismatches(doc_table: tuple[list[str], list[list[str]]], real_tables) -> list[str]:
    """Documented rows no real table has. Cells are compared by column name, so the docs may leave
    columns out and a column added to edgebench's output does not break them."""
    header, rows = doc_table
    candidates = [t for t in real_tables if set(header) <= set(t[0])]
    if not candidates:
        return ["┃ " + " ┃ ".join(header) + " ┃ (no table with these columns)"]
    missing = []
    for row in rows:
        wanted = {name: _pattern(cell) for name, cell in zip(header, row)}
        if not any(any(all(wanted[name].fullmatch(dict(zip(real_header, real))[name]) for name in wanted)
                       for real in real_rows if len(real) == len(real_header))
                   for real_header, real_rows in candidates):
            missing.append("│ " + " │ ".join(row) + " │")
    return missing


def mismatches(documented: list[str], stdout: str, stderr: str) -> list[str]:
    """Documented output lines that the real output does not contain (empty list: it matches).

    JSON output: every documented object must be one of the real ones. Tables: each documented row
    matches a real row in the columns the docs show. Other lines: some real line matches, ``…``
    standing for anything.
    """
    doc = "\n".join(documented).strip()
    if not doc:
        return []
    if doc.startswith("["):
        real = json.loads(stdout)
        return [json.dumps(row) for row in json.loads(doc) if row not in real]
    real_lines = [line.rstrip() for line in (stdout + "\n" + stderr).splitlines()]
    missing = []
    for table in _tables(documented):
        missing += _table_mismatches(table, _tables(real_lines))
    for line in documented:
        if not line.strip() or line.strip() == "…" or _cells(line, "┃") or _cells(line, "│"):
            continue
        if not any(_pattern(line.strip()).fullmatch(real.strip()) for real in real_lines):
            missing.append(line)
    return missing
