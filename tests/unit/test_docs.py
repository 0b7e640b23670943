"""Pages generated from the code stay in step with it."""

from pathlib import Path

from jupyter_bumps_remote import config_reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_is_up_to_date():
    assert (DOCS / "configuration.md").read_text() == config_reference.render(), (
        "regenerate: python -m jupyter_bumps_remote.config_reference > docs/configuration.md"
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
