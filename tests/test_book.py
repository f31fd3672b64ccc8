"""The built smoke book (`make book PROFILE=smoke`, which `make test` runs first).

Skipped, with the reason, when _build/smoke/html has not been built.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "smoke" / "html"
EXECUTED = ROOT / "book" / "executed" / "smoke"

pytestmark = pytest.mark.skipif(
    not (HTML / "index.html").is_file(),
    reason="the smoke book is not built (_build/smoke/html); run `make book PROFILE=smoke` "
           "(`make test` builds it first)",
)


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part.get("chapters", [])]
    return files


PAGES = _toc_files()


class _Links(HTMLParser):
    """Collects <img src>, <a href> and class attributes of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.classes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        self.classes.update((a.get("class") or "").split())


def _parse(page: Path) -> tuple[_Links, str]:
    text = page.read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(text)
    return parser, text


def _local(url: str) -> str | None:
    """The local file part of a URL, or None for external, data: and pure-anchor URLs."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("#", "mailto:", "javascript:")):
        return None
    return unquote(parts.path) or None


def _html_of(entry: str) -> Path:
    return HTML / f"{entry}.html"


def test_the_root_page_redirects_or_is_the_intro():
    assert (HTML / "index.html").is_file()
    assert _html_of("book/intro").is_file()


@pytest.mark.parametrize("entry", PAGES)
def test_every_toc_entry_has_a_page(entry):
    assert _html_of(entry).is_file(), f"{entry} was not rendered"


@pytest.mark.parametrize("entry", PAGES)
def test_images_and_internal_links_resolve(entry):
    page = _html_of(entry)
    links, _ = _parse(page)
    for src in links.images:
        local = _local(src)
        if local is not None:
            assert (page.parent / local).resolve().is_file(), f"{entry}: missing image {src}"
    for href in links.links:
        local = _local(href)
        if local is not None:
            target = (page.parent / local).resolve()
            assert target.exists(), f"{entry}: broken link {href}"


@pytest.mark.parametrize("entry", PAGES)
def test_no_error_output(entry):
    links, text = _parse(_html_of(entry))
    assert "Traceback" not in text, f"{entry} shows a traceback"
    bad = {"output_error", "traceback", "highlight-ipythontb"} & links.classes
    assert not bad, f"{entry} has error output ({', '.join(sorted(bad))})"
    if entry.startswith("notebooks/"):  # the chapters may mention these names in prose
        assert "PapermillExecutionError" not in text and "ParameterError" not in text


@pytest.mark.parametrize("entry", [p for p in PAGES if p.startswith("notebooks/")])
def test_notebook_pages_are_the_executed_smoke_notebooks(entry):
    links, text = _parse(_html_of(entry))
    assert "Provenance" in text or "Source:" in text or "Generated from" in text, entry
    if "appendix" not in entry:
        assert "profile=smoke" in text, f"{entry} was not built from the smoke run"
    executed = EXECUTED / f"{entry.split('/', 1)[1]}.ipynb"
    assert executed.is_file(), f"{executed} missing"


@pytest.mark.parametrize("entry", [p for p in PAGES if p.startswith("notebooks/")])
def test_notebook_pages_offer_launch_buttons(entry):
    _, text = _parse(_html_of(entry))
    name = entry.split("/", 1)[1]
    assert "colab.research.google.com/github/" in text and f"notebooks/{name}.ipynb" in text


def test_figures_were_rendered():
    """The figure-heavy notebooks embed PNGs that land in _images."""
    pngs = list((HTML / "_images").glob("*.png"))
    assert len(pngs) >= 10, f"only {len(pngs)} figures in the book"
