"""The docs stay in step with the code and stand alone: generated pages, links, anchors."""

from pathlib import Path

import pytest

from jupyter_bumps_remote.cli import config_reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_is_up_to_date():
    assert (DOCS / "configuration.md").read_text() == config_reference.render(), (
        "regenerate: python -m jupyter_bumps_remote.cli.config_reference > docs/configuration.md"
    )


def test_every_docs_page_is_linked_from_the_readme_or_another_page():
    pages = {p.name for p in DOCS.glob("*.md")}
    texts = [(DOCS.parent / "README.md").read_text()] + [p.read_text() for p in DOCS.glob("*.md")]
    linked = {name for name in pages if any(f"{name})" in text for text in texts)}
    assert linked == pages, f"not linked from anywhere: {sorted(pages - linked)}"


def test_the_binder_section_opens_an_existing_notebook():
    import re

    readme = (DOCS.parent / "README.md").read_text()
    path = re.search(r"`lab/tree/(\S+)` to open", readme)
    assert path, "the README does not say which notebook Binder opens"
    assert (DOCS.parent / path.group(1)).is_file(), path.group(1)
    # no badge to a placeholder address while the repository's address is not known
    assert "OWNER" not in readme and "mybinder.org/v2/gh/" not in readme


# Pages outside the repository that its files once cited; spelled in pieces so that this
# file does not cite them either. Case matters: docs/reliability.md is the project's own.
OUTSIDE_PAGES = tuple(
    name.encode()
    for name in (
        "RELIABILITY" + ".md",
        "ARCHITECTURE" + ".md",
        "BUMPS_NOTES" + ".md",
        "STYLE" + ".md",
        "../" + "shared",
    )
)


def tracked_files() -> list[Path]:
    import shutil
    import subprocess

    root = DOCS.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files")
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [root / name.decode() for name in names if name and (root / name.decode()).is_file()]


def test_no_tracked_file_cites_a_page_outside_the_repository():
    citing = {
        str(path.relative_to(DOCS.parent)): sorted(
            name.decode() for name in OUTSIDE_PAGES if name in path.read_bytes()
        )
        for path in tracked_files()
    }
    citing = {path: names for path, names in citing.items() if names}
    assert not citing, (
        f"files citing pages outside the repository (link docs/*.md and its anchors instead): "
        f"{citing}"
    )


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation dropped,
    spaces as hyphens (repeated headings, which get -1, -2, are not linked here)."""
    import re

    anchors = set()
    for line in page.read_text().splitlines():
        heading = re.match(r"#{1,6} +(.*)", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_every_link_to_a_docs_anchor_finds_its_heading():
    import re

    root = DOCS.parent
    sources = [root / "README.md", *DOCS.glob("*.md")]
    sources += [p for p in (root / "jupyter_bumps_remote").rglob("*.py")]
    sources += [p for p in (root / "tests").rglob("*.py")]
    broken = []
    for source in sources:
        text = source.read_text()
        links = re.findall(r"([\w-]+\.md)#([\w-]+)", text)
        if source.suffix == ".md":
            links += [(source.name, anchor) for anchor in re.findall(r"\]\(#([\w-]+)\)", text)]
        for page_name, anchor in links:
            page = DOCS / page_name if page_name != "README.md" else root / page_name
            if page.is_file() and anchor not in heading_anchors(page):
                broken.append(f"{source.relative_to(root)}: {page_name}#{anchor}")
    assert not broken, f"links to headings that do not exist: {broken}"
