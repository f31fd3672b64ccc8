"""The built smoke book (`make book PROFILE=smoke`, which `make test` runs first).

When _build/smoke/html is missing, or older than a notebook it shows, these tests are skipped
with the reason on a developer's machine, and fail when the environment variable CI is set:
there a missing or stale build means the book was not checked.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "smoke" / "html"
EXECUTED = ROOT / "book" / "executed" / "smoke"

def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part.get("chapters", [])]
    return files


PAGES = _toc_files()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def build_problem(html: Path = HTML, pages: list[str] = PAGES, root: Path = ROOT) -> str | None:
    """Why the built book cannot be checked (missing, or older than a notebook it shows), or
    None. A notebook page counts as current when it is newer than the notebook and its paired
    script (``make book`` executes every notebook again, so every such page is rewritten)."""
    if not (html / "index.html").is_file():
        return (f"the smoke book is not built ({html.relative_to(root)}); run "
                "`make book PROFILE=smoke` (`make test` builds it first)")
    stale = []
    for entry in (p for p in pages if p.startswith("notebooks/")):
        page = html / f"{entry}.html"
        sources = [s for s in (root / f"{entry}.ipynb", root / f"{entry}.py") if s.is_file()]
        newest = max((s.stat().st_mtime for s in sources), default=0.0)
        if not page.is_file() or page.stat().st_mtime < newest:
            stale.append(entry)
    if stale:
        return (f"the smoke book is older than {', '.join(stale)}; rebuild it with "
                "`make book PROFILE=smoke`")
    return None


PROBLEM = build_problem()


@pytest.fixture
def fake_book(tmp_path: Path) -> Path:
    """A repository with one notebook and a build of it; needs no real build."""
    for rel in ("notebooks/01-x.ipynb", "notebooks/01-x.py", "_build/html/index.html",
                "_build/html/notebooks/01-x.html"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    return tmp_path


@pytest.fixture(autouse=True)
def _current_build(request: pytest.FixtureRequest) -> None:
    if PROBLEM is None or "fake_book" in request.fixturenames:
        return
    if _in_ci():
        pytest.fail(f"{PROBLEM} (CI is set, so the book tests may not be skipped)")
    pytest.skip(PROBLEM)


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


def test_build_problem_names_a_missing_or_stale_build(fake_book: Path) -> None:
    html, pages = fake_book / "_build" / "html", ["book/intro", "notebooks/01-x"]
    page, script = html / "notebooks" / "01-x.html", fake_book / "notebooks" / "01-x.py"

    def check() -> str | None:
        return build_problem(html, pages, fake_book)

    os.utime(script, (1000, 1000))
    os.utime(fake_book / "notebooks" / "01-x.ipynb", (1000, 1000))
    os.utime(page, (2000, 2000))
    assert check() is None
    os.utime(script, (3000, 3000))  # the paired script was edited after the build
    assert check() == ("the smoke book is older than notebooks/01-x; rebuild it with "
                       "`make book PROFILE=smoke`")
    page.unlink()
    assert "notebooks/01-x" in check()
    (html / "index.html").unlink()
    assert check().startswith("the smoke book is not built (_build/html)")
