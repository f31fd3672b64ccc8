"""References: one bibliography cited where the chapters name a method or the thesis, every
notebook ending with "Resources and references", and a CITATION.cff that names the repository
the book is built from."""

from __future__ import annotations

import re
from pathlib import Path

import pybtex.database as pybtex
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))
# A chapter that names one of these (in its prose) must cite the work that introduced it.
NAMED = {
    r"\bVGG": "simonyan2015vgg", r"\bResNet": "he2016resnet",
    r"\bEfficientNet": "tan2019efficientnet", r"\bHyperband\b": "li2018hyperband",
    r"\bGrad-CAM\b": "selvaraju2017gradcam", r"\bMcNemar": "mcnemar1947",
    r"\bbootstrap\b": "efron1993bootstrap", r"\bFAISS\b": "johnson2021faiss",
    r"\b[Tt]he thesis\b": "nishi2026jewelnet",
}
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _entries() -> set[str]:
    bibfiles = _config()["bibtex_bibfiles"]
    return {key for path in bibfiles for key in pybtex.parse_file(ROOT / path).entries}


def _cited(text: str) -> set[str]:
    return {key.strip() for group in CITE.findall(text) for key in group.split(",")}


def _prose(text: str) -> str:
    """Running text only: no headings, tables, code, links or inline code."""
    kept, fence = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fence = not fence
            continue
        if fence or line.startswith("#") or line.lstrip().startswith("|"):
            continue
        kept.append(re.sub(r"\{\w+\}`[^`]*`|`[^`]*`|\[[^\]]*\]\([^)]*\)", " ", line))
    return "\n".join(kept)


def test_the_bibliography_is_configured_and_rendered():
    config = _config()
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "file: book/references" in toc
    assert "```{bibliography}" in (ROOT / "book" / "references.md").read_text(encoding="utf-8")


def test_every_citation_resolves_and_every_entry_is_cited():
    entries = _entries()
    cited = set().union(*(_cited(p.read_text(encoding="utf-8")) for p in CHAPTERS))
    assert cited - entries == set(), "cited but not in references.bib"
    assert entries - cited == set(), "in references.bib but never cited"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_a_chapter_that_names_a_method_cites_it(path):
    text = path.read_text(encoding="utf-8")
    prose, cited = _prose(text), _cited(text)
    missing = [key for term, key in NAMED.items() if re.search(term, prose) and key not in cited]
    assert missing == [], f"{path.name} names these works without citing them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_ends_with_resources_and_references(path):
    cells = re.split(r"^# %%.*$", path.read_text(encoding="utf-8"), flags=re.M)
    last = cells[-1]
    assert last.lstrip().startswith("# ## Resources and references"), path.name
    assert "ar.iub.edu.bd/handle/11348/1166" in last  # the thesis, with its address
    assert len(re.findall(r"^# - ", last, re.M)) >= 2


def test_citation_cff_names_this_repository_and_the_thesis():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["title"] and cff["authors"]
    assert cff["repository-code"] == _config()["repository"]["url"]
    thesis = [r for r in cff["references"] if r["type"] == "thesis"]
    assert thesis and thesis[0]["url"] == "https://ar.iub.edu.bd/handle/11348/1166"
