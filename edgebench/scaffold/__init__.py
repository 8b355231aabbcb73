"""``edgebench plugin new NAME``: write a plugin package that installs, registers and passes its tests.

The template (``template/``) is the finished plugin of the tutorial in ``docs/plugins.md``,
``edgebench-plainconv``: a model and a backend. ``new`` copies it, renaming ``plainconv``
to NAME everywhere, so the tutorial explains every file the command writes (a test keeps the
two identical). Registered through the ``edgebench_register_commands`` hook like any plugin's
command; ``edgebench.scaffold.apidoc`` (the docs generator) is not imported here.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from ..errors import EdgebenchError
from ..hookspecs import hookimpl

TEMPLATE_NAME = "plainconv"
_NAME = re.compile(r"^[a-z][a-z0-9]*([_-][a-z0-9]+)*$")
_SKIP = {"__pycache__", "build", ".pytest_cache", ".benchmarks"}  # left behind by running it in place


def template_dir() -> Path:
    from importlib.resources import files  # not at import: the CLI loads this plugin on every start

    return Path(str(files("edgebench.scaffold") / "template"))


def normalize(name: str) -> str:
    """NAME as a Python identifier (``my-lab`` -> ``my_lab``); an ``edgebench-`` prefix is dropped."""
    name = re.sub(r"^edgebench[-_]", "", name.strip().lower())
    if not _NAME.match(name):
        raise EdgebenchError(
            f"plugin name {name!r} must start with a letter and use only a-z, 0-9, '-' and '_' (e.g. mylab)")
    return name.replace("-", "_")


def substitutions(ident: str) -> list[tuple[str, str]]:
    """What ``new`` replaces in file names and contents, longest first."""
    camel = "".join(part.capitalize() for part in ident.split("_"))
    return [
        ("edgebench-plainconv", "edgebench-" + ident.replace("_", "-")),  # the distribution
        ("edgebench_plainconv", "edgebench_" + ident),  # the module
        ("Plainconv", camel),  # class names
        (TEMPLATE_NAME, ident),  # entry point, backend and model names, adapter and test files
    ]


def _apply(text: str, subs: list[tuple[str, str]]) -> str:
    for old, new in subs:
        text = text.replace(old, new)
    return text


def template_files() -> dict[str, str]:
    """The template's files as {relative posix path: text}, build leftovers skipped."""
    root = template_dir()
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or _SKIP & set(rel.parts) or rel.parts[0].endswith(".egg-info") or path.suffix == ".pyc":
            continue
        out[rel.as_posix()] = path.read_text()
    return out


def render(name: str) -> dict[str, str]:
    """The files ``edgebench plugin new NAME`` writes, as {relative path: text}."""
    subs = substitutions(normalize(name))
    return {_apply(rel, subs): _apply(text, subs) for rel, text in template_files().items()}


def write_plugin(name: str, parent: Path) -> Path:
    """Write the package for NAME under ``parent``; returns its folder. Never overwrites."""
    ident = normalize(name)
    target = Path(parent) / ("edgebench-" + ident.replace("_", "-"))
    if target.exists() and any(target.iterdir()):
        raise EdgebenchError(f"{target} already exists and is not empty; choose another name or folder")
    for rel, text in render(ident).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target


@hookimpl
def edgebench_register_commands(cli: click.Group) -> None:
    @cli.group()
    def plugin() -> None:
        """Write your own plugin (see docs/plugins.md)."""

    @plugin.command()
    @click.argument("name")
    @click.option("-d", "--directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                  show_default=True, help="Where to create the package folder.")
    def new(name: str, directory: Path) -> None:
        """Write edgebench-NAME/, a plugin package (model, backend, tests) to start from."""
        target = write_plugin(name, directory)
        ident = normalize(name)
        written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
        click.echo(f"Wrote {target}/ with model {ident}-cubic and backend {ident}:")
        for rel in written:
            click.echo(f"  {rel}")
        click.echo(f"Next: cd {target} && pip install -e '.[test]' && edgebench plugins && pytest")
