"""Generate the API reference blocks in docs/*.md from the source, so the docs cannot drift.

A docs file holds hand-written prose and generated blocks between markers::

    <!-- [[[apidoc hook edgebench_register_models]]] -->
    ...generated from edgebench/hookspecs.py...
    <!-- [[[end]]] -->

Kinds: ``hook NAME`` (a hookspec), ``class NAME`` (an object of :mod:`edgebench.api`),
``testing NAME`` (a helper or fixture of :mod:`edgebench.testing`). Everything is read with
``ast`` from the source files, nothing is imported or evaluated, so the output is the same on
every machine.

    python -m edgebench.scaffold.apidoc            # rewrite docs/hooks.md and docs/testing.md
    python -m edgebench.scaffold.apidoc --check    # exit 1 if either is stale (CI, tests)
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
SOURCES = {"hook": PACKAGE / "hookspecs.py", "class": PACKAGE / "api.py", "testing": PACKAGE / "testing" / "__init__.py"}
DOCS = ("docs/hooks.md", "docs/testing.md")
BLOCK = re.compile(r"(<!-- \[\[\[apidoc (\w+) ([\w.]+)\]\]\] -->\n)(.*?)(<!-- \[\[\[end\]\]\] -->)", re.S)
WIDTH = 100


class ApidocError(Exception):
    pass


@lru_cache(maxsize=None)
def _parse(kind: str) -> tuple[ast.Module, str]:
    source = SOURCES[kind].read_text()
    return ast.parse(source), source


def _comments(source: str) -> dict[int, str]:
    """Trailing ``# comments`` by line number (why-notes on fields become the docs' notes)."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _defs(kind: str) -> dict[str, ast.AST]:
    tree, _ = _parse(kind)
    return {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def _ann(node: ast.expr | None) -> str:
    """An annotation as written, string forward references unquoted."""
    if node is None:
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return re.sub(r"'([\w.]+)'", r"\1", ast.unparse(node))


def _default(node: ast.expr) -> str:
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "field":
        for kw in node.keywords:
            if kw.arg == "default_factory":
                return f"{ast.unparse(kw.value)}()"
    return ast.unparse(node)


def signature(fn: ast.FunctionDef, skip_self: bool = False) -> str:
    a = fn.args
    params: list[str] = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for arg, default in zip(positional, defaults):
        params.append(_param(arg, default))
    if skip_self and params and positional[0].arg in ("self", "cls"):
        params.pop(0)
    if a.vararg:
        params.append("*" + _param(a.vararg, None))
    elif a.kwonlyargs:
        params.append("*")
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        params.append(_param(arg, default))
    if a.kwarg:
        params.append("**" + _param(a.kwarg, None))
    ret = f" -> {_ann(fn.returns)}" if fn.returns else ""
    one_line = f"{fn.name}({', '.join(params)}){ret}"
    if len(one_line) <= WIDTH:
        return one_line
    return f"{fn.name}(\n" + "".join(f"    {p},\n" for p in params) + f"){ret}"


def _param(arg: ast.arg, default: ast.expr | None) -> str:
    text = arg.arg + (f": {_ann(arg.annotation)}" if arg.annotation else "")
    if default is not None:
        text += f" = {ast.unparse(default)}" if arg.annotation else f"={ast.unparse(default)}"
    return text


def md(doc: str | None, where: str) -> str:
    """A reST-flavoured docstring as Markdown: roles and ``literals`` to backticks, ``::`` blocks fenced."""
    if not doc:
        raise ApidocError(f"{where} has no docstring")
    doc = re.sub(r":(?:class|func|meth|data|mod|attr):`~[\w.]*?(\w+)`", r"`\1`", doc)  # ~a.b.C -> C
    doc = re.sub(r":(?:class|func|meth|data|mod|attr):`([^`]+)`", r"`\1`", doc)
    doc = doc.replace("``", "`")
    out: list[str] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])  # reST "text::" reads "text:"
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                block.append(lines[i][4:])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            out += ["", "```python", *block, "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out).strip()


def render_hook(name: str) -> str:
    fn = _defs("hook").get(name)
    if not isinstance(fn, ast.FunctionDef):
        raise ApidocError(f"no hookspec {name} in {SOURCES['hook'].name}")
    args = ", ".join(a.arg for a in fn.args.args)
    return (f"## {name}({args})\n\n```python\n@hookimpl\ndef {signature(fn)}:\n```\n\n"
            f"{md(ast.get_docstring(fn), name)}\n")


def _decorators(node: ast.FunctionDef | ast.ClassDef) -> set[str]:
    return {ast.unparse(d).split("(")[0].split(".")[-1] for d in node.decorator_list}


def render_class(name: str) -> str:
    cls = _defs("class").get(name)
    if not isinstance(cls, ast.ClassDef):
        raise ApidocError(f"no class {name} in {SOURCES['class'].name}")
    _, source = _parse("class")
    notes = _comments(source)
    is_dataclass = "dataclass" in _decorators(cls)
    bases = [ast.unparse(b) for b in cls.bases]
    what = "dataclass" if is_dataclass else ("abstract base class: subclass it" if "ABC" in bases else "class")
    out = [f"### {name}", "", f"`from edgebench import {name}` ({what})", "", md(ast.get_docstring(cls), name), ""]
    fields = [n for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    if fields:
        label = "field" if is_dataclass else "attribute"
        out += [f"| {label} | type | default | notes |", "|---|---|---|---|"]
        for f in fields:
            ann = _ann(f.annotation)
            ann = re.sub(r"^ClassVar\[(.*)\]$", r"\1", ann)
            default = f"`{_default(f.value)}`" if f.value is not None else "required"
            cells = [f"`{f.target.id}`", f"`{ann}`", default, notes.get(f.lineno, "")]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")  # | splits cells
        out.append("")
    methods = [n for n in cls.body if isinstance(n, ast.FunctionDef)
               and (not n.name.startswith("_") or n.name == "__init__" and not is_dataclass)]
    for fn in methods:
        decorators = _decorators(fn)
        if decorators & {"property", "cached_property"}:
            out += [f"#### {name}.{fn.name} (property)", "", f"```python\n{fn.name}: {_ann(fn.returns)}\n```"]
        else:
            must = " (must be implemented)" if "abstractmethod" in decorators else ""
            names = [a.arg for a in fn.args.args[1:]] + (["*"] if fn.args.kwonlyargs else [])
            args = ", ".join(names + [a.arg for a in fn.args.kwonlyargs])
            out += [f"#### {name}.{fn.name}({args}){must}", "", f"```python\ndef {signature(fn)}\n```"]
        out += ["", md(ast.get_docstring(fn), f"{name}.{fn.name}"), ""]
    return "\n".join(out).rstrip() + "\n"


def render_testing(name: str) -> str:
    fn = _defs("testing").get(name)
    if not isinstance(fn, ast.FunctionDef):
        raise ApidocError(f"no function {name} in edgebench/testing/__init__.py")
    if "fixture" in _decorators(fn):
        given = _ann(fn.returns)
        if given.startswith("Iterator[") and given.endswith("]"):  # a yield fixture gives what it yields
            given = given[len("Iterator["):-1]
        head = f"### {name} (fixture)\n\n`def test_something({name}):` gives a `{given}`."
    else:
        sig = signature(fn)
        if "contextmanager" in _decorators(fn):  # what `with name(...) as x:` binds
            sig = re.sub(r"-> Iterator\[(.*)\]$", r"-> ContextManager[\1]", sig)
        head = f"### {name}\n\n```python\nfrom edgebench.testing import {name}\n\n{sig}\n```"
    return f"{head}\n\n{md(ast.get_docstring(fn), name)}\n"


RENDER = {"hook": render_hook, "class": render_class, "testing": render_testing}


def update(text: str) -> str:
    """Regenerate every block in a docs file's text."""

    def one(match: re.Match[str]) -> str:
        kind, name = match.group(2), match.group(3)
        if kind not in RENDER:
            raise ApidocError(f"unknown apidoc kind {kind!r} (use {', '.join(RENDER)})")
        try:
            body = RENDER[kind](name)
        except ApidocError as exc:
            raise ApidocError(f"{kind} {name}: {exc}") from None
        return f"{match.group(1)}{body}{match.group(5)}"

    return BLOCK.sub(one, text)


def blocks(text: str) -> set[tuple[str, str]]:
    """The (kind, name) of every generated block in a docs file."""
    return {(m.group(2), m.group(3)) for m in BLOCK.finditer(text)}


def public_names() -> dict[str, list[str]]:
    """Everything that must have a block: each hookspec, each api object, each testing helper."""
    hooks = [n for n, node in _defs("hook").items() if n.startswith("edgebench_") and isinstance(node, ast.FunctionDef)]
    tree, _ = _parse("testing")
    testing: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            testing = list(ast.literal_eval(node.value))
    classes = [n for n, node in _defs("class").items() if isinstance(node, ast.ClassDef)]
    return {"hook": hooks, "class": classes, "testing": testing}


def missing(texts: list[str]) -> list[str]:
    have = set().union(*(blocks(t) for t in texts))
    return [f"{kind} {name}" for kind, names in public_names().items() for name in names if (kind, name) not in have]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgebench.scaffold.apidoc", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help=f"docs files (default: {', '.join(DOCS)})")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is stale")
    args = parser.parse_args(argv)
    paths = args.files or [PACKAGE.parent / d for d in DOCS]
    texts = {path: path.read_text() for path in paths}
    status = 0
    for path, text in texts.items():
        new = update(text)
        if new != text:
            if args.check:
                print(f"{path}: stale; run python -m edgebench.scaffold.apidoc", file=sys.stderr)
                status = 1
            else:
                path.write_text(new)
                print(f"{path}: updated", file=sys.stderr)
    if not args.files:
        for item in missing(list(texts.values())):
            print(f"no apidoc block for {item}: add <!-- [[[apidoc {item}]]] --><!-- [[[end]]] -->", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
