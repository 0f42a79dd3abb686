"""
The docs cannot rot: generated parts are up to date, links resolve, examples parse and run.

- ``docs/build.py --check``: every snippet taken from ``example_dags/`` and every doc link is current, and
  every snippet marker names an existing ``# [START]``/``# [END]`` region.
- Every relative link in ``docs/**/*.md`` and ``README.md`` points to an existing file (and heading).
- Every ``AIRFLOW_CONN_...`` example in ``docs/connection.md``, URI and JSON, parses as Airflow parses it
  and gives the gateway settings the text describes.
- Hand-written Python blocks in the docs run; the example manifest has the fields a real export writes.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import Connection

from airflow_provider_bifrost.hooks.connection import EXTRA_FIELDS, GatewaySettings
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator

if TYPE_CHECKING:
    from types import ModuleType

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONNECTION_DOC = DOCS / "connection.md"
RESULTS_DOC = DOCS / "results-format.md"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_build", DOCS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build = load_build()


def markdown_files() -> list[Path]:
    return [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]


def fenced_blocks(text: str) -> list[tuple[int, str, str, str]]:
    """Every fenced code block: (line index of its opening fence, info string, body, the line before it)."""
    lines = text.split("\n")
    blocks = []
    index = 0
    while index < len(lines):
        if match := re.match(r"^(`{3,})(.*)$", lines[index]):
            fence, info = match.group(1), match.group(2).strip()
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith(fence))
            before = lines[index - 1] if index else ""
            blocks.append((index, info, "\n".join(lines[index + 1 : end]) + "\n", before))
            index = end
        index += 1
    return blocks


def without_code(text: str) -> str:
    """``text`` without fenced blocks and inline code spans, where a bracket is not a link."""
    text = re.sub(r"^(`{3,}).*?^\1[ \t]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"``.*?``|`[^`]*`", "", text, flags=re.DOTALL)


def anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown file, as GitHub makes them."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", without_code(path.read_text()), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


# -- generated parts ------------------------------------------------------------------------------


def test_generated_parts_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(DOCS / "build.py"), "--check"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, f"docs are stale or a marker is broken; run `python docs/build.py`:\n{done.stderr}"


def test_every_snippet_marker_names_a_region() -> None:
    markers = [
        (path, match)
        for path in DOCS.rglob("*.md")
        for line in path.read_text().split("\n")
        if (match := build.SNIPPET.match(line))
    ]
    assert {path.name for path, _ in markers} >= {"create-batch.md", "batch-sensor.md", "batch-results.md"}
    for path, match in markers:
        assert build.region(ROOT / match["path"], match["name"]).strip(), f"{path}: {match[0]}"


def test_a_marker_naming_a_missing_region_fails(tmp_path: Path) -> None:
    (tmp_path / "dag.py").write_text("x = 1\n# [START present]\ny = 2\n# [END present]\n")
    doc = tmp_path / "doc.md"
    with pytest.raises(build.BuildError, match="region 'absent'"):
        build.render("<!-- snippet: dag.py absent -->\n", doc, tmp_path)
    with pytest.raises(build.BuildError, match="no such file"):
        build.render("<!-- snippet: nope.py present -->\n", doc, tmp_path)


def test_snippets_are_inserted_then_replaced(tmp_path: Path) -> None:
    dag = tmp_path / "dag.py"
    dag.write_text("with x:\n    # [START region]\n    y = 2\n    # [END region]\n")
    doc = tmp_path / "doc.md"
    written = build.render("Intro\n<!-- snippet: dag.py region -->\nAfter\n", doc, tmp_path)
    assert written == "Intro\n<!-- snippet: dag.py region -->\n```python\ny = 2\n```\nAfter\n"
    dag.write_text("with x:\n    # [START region]\n    y = 3\n    # [END region]\n")
    assert build.render(written, doc, tmp_path) == written.replace("y = 2", "y = 3")
    assert build.render("No markers\n\n", doc, tmp_path) == "No markers\n\n"


def test_doc_links_say_coming_until_the_doc_exists(tmp_path: Path) -> None:
    doc = tmp_path / "index.md"
    text = "<!-- doc-link: later.md | Later | what it says. -->\n"
    assert build.render(text, doc, tmp_path).endswith("- Later (coming): what it says.\n")
    (tmp_path / "later.md").write_text("# Later\n")
    assert build.render(text, doc, tmp_path).endswith("- [Later](later.md): what it says.\n")


# -- links ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", without_code(path.read_text())):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, f"{path.relative_to(ROOT)}: broken links: {broken}"


def test_architecture_names_every_module_and_only_those() -> None:
    assert build.architecture_problems() == []


def test_architecture_check_sees_a_missing_and_an_unknown_module(tmp_path: Path) -> None:
    """Control: a map that misses a module, or names one that does not exist, is reported."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    for name in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py"):
        (package / name).write_text("")
    doc = tmp_path / "architecture.md"
    doc.write_text("| module | owns |\n|---|---|\n| `a.py` | a |\n| `sub/c.py` | c |\n")
    assert build.architecture_problems(doc, package) == [
        "architecture.md names sub/c.py, which does not exist",
        "architecture.md does not name sub/b.py",
    ]


def test_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    for doc in DOCS.rglob("*.md"):
        assert f"({doc.relative_to(ROOT)})" in readme, f"README.md does not link {doc.relative_to(ROOT)}"


def test_index_lists_every_doc() -> None:
    index = (DOCS / "index.md").read_text()
    for doc in DOCS.rglob("*.md"):
        if doc.name != "index.md":
            assert f"({doc.relative_to(DOCS)})" in index, f"docs/index.md does not link {doc.relative_to(DOCS)}"


# -- connection examples --------------------------------------------------------------------------

CA_BUNDLE = "/etc/ssl/certs/internal-ca.pem"
VIRTUAL_KEY = {"x-bf-vk": "sk-bf-your-key"}
LOCAL = "http://localhost:8080"
EXAMPLE = "https://bifrost.example.com"
BASIC = "Basic " + base64.b64encode(b"gateway-user:gateway-password").decode()
DEFAULTS: dict[str, Any] = {"headers": {}, "timeout": 60.0, "verify": True, "max_retries": 5, "default_provider": None}

#: What each example of connection.md must give: what its text says.
EXPECTED: dict[str, dict[str, Any]] = {
    "virtual-key": {"base_url": LOCAL, "credential_headers": VIRTUAL_KEY},
    "basic-auth": {"base_url": EXAMPLE, "credential_headers": {"Authorization": BASIC, **VIRTUAL_KEY}},
    "bearer": {
        "base_url": EXAMPLE,
        "credential_headers": {"Authorization": "Bearer your-gateway-token", **VIRTUAL_KEY},
    },
    "custom-ca": {
        "base_url": "https://bifrost.internal.example.com:8443",
        "credential_headers": VIRTUAL_KEY,
        "verify": CA_BUNDLE,
    },
    "default-provider": {"base_url": LOCAL, "credential_headers": VIRTUAL_KEY, "default_provider": "anthropic"},
    "headers": {"base_url": LOCAL, "credential_headers": VIRTUAL_KEY, "headers": {"x-bf-dim-team": "data"}},
    "timeout-retries": {"base_url": LOCAL, "credential_headers": VIRTUAL_KEY, "timeout": 300.0, "max_retries": 8},
    "path-prefix": {"base_url": "https://gateway.example.com/bifrost", "credential_headers": VIRTUAL_KEY},
}
EXPORT = re.compile(r"^export AIRFLOW_CONN_(?P<conn_id>[A-Z0-9_]+)='(?P<value>[^']*)'$", re.MULTILINE)


def connection_examples() -> dict[str, list[str]]:
    """The connection values of each tagged example block of connection.md, by the example's name."""
    examples: dict[str, list[str]] = {}
    for _, info, body, before in fenced_blocks(CONNECTION_DOC.read_text()):
        if match := re.match(r"^<!-- connection-example: ([\w-]+) -->$", before):
            assert info == "bash", f"example {match[1]}: expected a bash block"
            examples[match[1]] = [export["value"] for export in EXPORT.finditer(body)]
    return examples


def settings_of(value: str) -> GatewaySettings:
    """What the hook reads from an ``AIRFLOW_CONN_...`` value, parsed the way Airflow's secrets backends do."""
    if value.lstrip().startswith("{"):
        conn = Connection.from_json(value, conn_id="bifrost_default")
    else:
        conn = Connection.from_uri(value, conn_id="bifrost_default")
    return GatewaySettings.from_connection(conn)


def test_every_connection_example_is_tagged_and_expected() -> None:
    examples = connection_examples()
    assert set(examples) == set(EXPECTED)
    in_doc = EXPORT.findall(CONNECTION_DOC.read_text())
    assert len(in_doc) == sum(len(values) for values in examples.values()), "an untagged AIRFLOW_CONN_ example"
    for name, values in examples.items():
        forms = sorted("json" if value.startswith("{") else "uri" for value in values)
        assert forms == ["json", "uri"], f"example {name}: one URI and one JSON line, got {forms}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_connection_example_gives_the_described_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda path: path == CA_BUNDLE or exists(path))
    expected = {**DEFAULTS, **EXPECTED[name]}
    for value in connection_examples()[name]:
        settings = settings_of(value)
        got = {key: getattr(settings, key) for key in expected}
        assert got == expected, f"example {name}: {value}"


def test_a_uri_path_is_not_a_path_prefix() -> None:
    """As connection.md warns: Airflow reads the URI's path as `schema`, which the connection ignores."""
    assert settings_of("bifrost://https://gateway.example.com/bifrost").base_url == "https://gateway.example.com"


def test_connection_doc_describes_every_extra() -> None:
    text = CONNECTION_DOC.read_text()
    rows = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.MULTILINE))
    assert rows == set(EXTRA_FIELDS)


# -- Python blocks and the manifest ---------------------------------------------------------------


def hand_written_python_blocks() -> list[tuple[str, str]]:
    """The ``python`` blocks of the docs that are not generated snippets: (where, code)."""
    return [
        (f"{path.relative_to(ROOT)}:{line + 1}", body)
        for path in sorted(DOCS.rglob("*.md"))
        for line, info, body, before in fenced_blocks(path.read_text())
        if info == "python" and not build.SNIPPET.match(before)
    ]


@pytest.mark.parametrize(("where", "code"), hand_written_python_blocks(), ids=lambda value: str(value)[:40])
def test_hand_written_python_block_runs(where: str, code: str) -> None:
    exec(compile(code, where, "exec"), {"__name__": "docs_block"})


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value (``counts.results``, ``shards[].uri``, ``usage.models.<model>.requests``...)."""
    if isinstance(value, dict):
        paths = set()
        for name, item in value.items():
            key = "<model>" if prefix == "usage.models." else name  # the models vary; their counts do not
            paths |= {f"{prefix}{key}"} | key_paths(item, f"{prefix}{key}.")
        return paths
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return key_paths(value[0], prefix.removesuffix(".") + "[].")
    return set()


def test_manifest_example_has_the_fields_of_a_real_export(
    bifrost_emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn = {"conn_type": "bifrost", "host": bifrost_emulator.url, "extra": {"default_provider": "openai"}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))
    batch = bifrost_emulator.add_batch("openai", requests=5, failed=1, manual=True)
    bifrost_emulator.set_status(batch["id"], "completed")
    operator = BifrostBatchResultsOperator(
        task_id="export",
        batch_id=batch["id"],
        output_uri=f"file://{tmp_path}",
        results_per_file=2,
        compression="gzip",
    )
    manifest = operator.execute({})

    (example,) = [
        json.loads(body) for _, info, body, before in fenced_blocks(RESULTS_DOC.read_text()) if "manifest" in before
    ]
    assert key_paths(example) == key_paths(manifest)
    assert list(example) == sorted(example), "the file has its keys sorted"
    documented = set(re.findall(r"^\| `([\w.]+)` \|", RESULTS_DOC.read_text(), flags=re.MULTILINE))
    paths = {path for path in key_paths(manifest) if "[]" not in path and path != "counts"}
    per_model = ("usage.models.<model>", "usage.total.")  # a model's counts and the total's: a table of their own
    counts = {path.rsplit(".", 1)[1] for path in paths if path.startswith(per_model) and path.count(".") == 3}
    counts |= {path.rsplit(".", 1)[1] for path in paths if path.startswith("usage.total.")}
    assert counts == set(manifest["usage"]["total"])
    assert documented == {path for path in paths if not path.startswith(per_model)} | counts
