"""
Fill the generated parts of the docs: code snippets taken from ``example_dags/`` and links to docs that
may not exist yet.

Run ``python docs/build.py`` after editing a doc or an example DAG; ``python docs/build.py --check`` only
reports the docs that are stale (exit status 1), which ``tests/unit/test_docs.py`` does.

Two markers, each an HTML comment on a line of its own, followed by the part this script writes:

- ``<!-- snippet: example_dags/example_bifrost_pipeline.py howto_operator_bifrost_create_batch -->``:
  the fenced ``python`` block after it is the region between the lines ``# [START <name>]`` and
  ``# [END <name>]`` of that file (path relative to the repository root), dedented and formatted with
  ruff (as ``ruff format`` checks the docs' code blocks). Write the marker alone and the block is added.
- ``<!-- doc-link: reliability.md | Reliability | what it covers -->``: the list item after it links
  the doc (path relative to the file holding the marker) when the file exists, and says "coming" when
  it does not.

The files are ``docs/**/*.md`` and ``README.md``.

It also checks ``docs/architecture.md``'s package map against the package: every module a table row names
exists, and every module of ``airflow_provider_bifrost/`` (but its ``__init__.py`` files) is named.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ARCHITECTURE = DOCS / "architecture.md"
PACKAGE = ROOT / "airflow_provider_bifrost"
#: A row of the package map: ``| `hooks/bifrost.py` | what it owns |``.
MODULE_ROW = re.compile(r"^\| `(?P<path>[\w/]+\.py)` \|", re.MULTILINE)

SNIPPET = re.compile(r"^<!-- snippet: (?P<path>\S+) (?P<name>[\w.-]+) -->$")
DOC_LINK = re.compile(r"^<!-- doc-link: (?P<path>[^|]+?) \| (?P<title>[^|]+?) \| (?P<about>[^|]+?) -->$")
FENCE_OPEN = "```python"
FENCE_CLOSE = "```"


class BuildError(Exception):
    """A marker that cannot be filled: a missing file or region, or a malformed block after it."""


@dataclass(frozen=True)
class Stale:
    """A doc whose generated parts differ from what this script writes."""

    path: Path
    text: str


def region(path: Path, name: str) -> str:
    """
    The lines between ``# [START name]`` and ``# [END name]`` of ``path``, dedented, with a final newline.

    :param path: the source file.
    :param name: the region's name.
    """
    if not path.is_file():
        raise BuildError(f"{path}: no such file")
    lines = path.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == f"# [START {name}]"]
    ends = [i for i, line in enumerate(lines) if line.strip() == f"# [END {name}]"]
    if len(starts) != 1 or len(ends) != 1:
        raise BuildError(
            f"{path}: region {name!r} needs exactly one '# [START {name}]' and one '# [END {name}]' line "
            f"(found {len(starts)} and {len(ends)})"
        )
    body = lines[starts[0] + 1 : ends[0]]
    if starts[0] > ends[0] or not any(line.strip() for line in body):
        raise BuildError(f"{path}: region {name!r} is empty or its END comes before its START")
    return textwrap.dedent("\n".join(body)).strip("\n") + "\n"


def _ruff() -> str:
    """The ruff executable: the one installed beside this Python (the project's venv), else on the PATH."""
    beside = Path(sys.executable).with_name("ruff")
    found = str(beside) if beside.is_file() else shutil.which("ruff")
    if found is None:
        raise BuildError("ruff is needed to format the snippets: run this with the project's venv (.venv/bin/python)")
    return found


def format_python(code: str, root: Path = ROOT) -> str:
    """
    ``code`` formatted by ruff with the project's settings: a dedented region may need blank lines added.

    :param code: Python source.
    :param root: the repository root, whose ``pyproject.toml`` configures ruff.
    """
    done = subprocess.run(
        [_ruff(), "format", "--stdin-filename", str(root / "docs" / "snippet.py"), "-"],
        input=code,
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"ruff could not format the snippet: {done.stderr.strip()}")
    return done.stdout


def _fenced_block_end(lines: list[str], start: int, where: str) -> int:
    """The index just past the fenced block opening at ``lines[start]``."""
    for index in range(start + 1, len(lines)):
        if lines[index] == FENCE_CLOSE:
            return index + 1
    raise BuildError(f"{where}: the code block after the snippet marker is never closed")


def render(text: str, doc: Path, root: Path = ROOT) -> str:
    """
    ``text`` (the doc at ``doc``) with every generated part rewritten.

    :param text: the doc's content.
    :param doc: where the doc lives (doc links are relative to it).
    :param root: the repository root (snippet paths are relative to it).
    """
    lines = text.split("\n")  # joined back with "\n": a doc without markers comes back byte for byte
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        where = f"{doc}:{index}"
        if match := SNIPPET.match(line):
            try:
                code = format_python(region(root / match["path"], match["name"]), root)
            except BuildError as exc:
                raise BuildError(f"{where}: {exc}") from None
            if index < len(lines) and lines[index].startswith("```"):
                if lines[index] != FENCE_OPEN:
                    raise BuildError(f"{where}: the block after a snippet marker must open with {FENCE_OPEN!r}")
                index = _fenced_block_end(lines, index, where)
            out.extend([FENCE_OPEN, *code.splitlines(), FENCE_CLOSE])
        elif match := DOC_LINK.match(line):
            if index < len(lines) and lines[index].startswith("- "):
                index += 1  # the item written last time
            target, title, about = match["path"], match["title"], match["about"]
            if (doc.parent / target).is_file():
                out.append(f"- [{title}]({target}): {about}")
            else:
                out.append(f"- {title} (coming): {about}")
    return "\n".join(out)


def docs(folder: Path = DOCS) -> list[Path]:
    """Every Markdown file under ``folder``, sorted, and the README (for its doc links)."""
    return [*sorted(folder.rglob("*.md")), folder.parent / "README.md"]


def stale_docs(paths: list[Path], root: Path = ROOT) -> list[Stale]:
    """
    The docs among ``paths`` whose generated parts are out of date, each with its rendered text.

    :param paths: the docs to check.
    :param root: the repository root.
    """
    stale = []
    for path in paths:
        text = path.read_text()
        rendered = render(text, path, root)
        if rendered != text:
            stale.append(Stale(path, rendered))
    return stale


def architecture_problems(doc: Path = ARCHITECTURE, package: Path = PACKAGE) -> list[str]:
    """
    What is wrong with the package map of ``doc``: modules it names that do not exist, modules it misses.

    :param doc: the architecture page.
    :param package: the package it maps.
    """
    named = set(MODULE_ROW.findall(doc.read_text()))
    modules = {path.relative_to(package).as_posix() for path in package.rglob("*.py") if path.name != "__init__.py"}
    return [f"{doc.name} names {path}, which does not exist" for path in sorted(named - modules)] + [
        f"{doc.name} does not name {path}" for path in sorted(modules - named)
    ]


def main(argv: list[str] | None = None) -> int:
    """
    Rewrite the stale docs (or, with ``--check``, list them); return the exit status.

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale docs; exit 1 if there are any")
    args = parser.parse_args(argv)
    try:
        stale = stale_docs(docs())
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = architecture_problems()
    for problem in problems:
        print(f"error: {problem} (edit its package map)", file=sys.stderr)
    for doc in stale:
        shown = doc.path.relative_to(ROOT)
        if args.check:
            print(f"stale: {shown} (run `python docs/build.py`)", file=sys.stderr)
        else:
            doc.path.write_text(doc.text)
            print(f"updated {shown}")
    return 1 if (stale and args.check) or problems else 0


if __name__ == "__main__":
    sys.exit(main())
