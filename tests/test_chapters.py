"""The chapters never type a result: a percentage in book/*.md is either pasted by myst-nb glue
from an executed notebook, or a figure quoted from the thesis in a paragraph that cites it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THESIS = ROOT.parent / "shared" / "thesis" / "jewelnet-thesis.txt"
CHAPTERS = sorted((ROOT / "book").glob("*.md"))

PERCENT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%")
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")
GLUE_DIRECTIVE = re.compile(r"```\{glue(?::\w+)?\}.*?```", re.S)
# A confidence level names a method setting, not a result.
LEVEL = re.compile(r"95\s?% (?:bootstrap )?(?:confidence )?(?:interval|confidence)")
CITES_THESIS = re.compile(r"\bthesis\b|\bTable \d|\{cite", re.I)


def typed_percentages(markdown: str, thesis_text: str) -> list[str]:
    """Percentages in ``markdown`` that are neither glued nor cited thesis figures."""
    text = GLUE_DIRECTIVE.sub("", GLUE_ROLE.sub("", markdown))
    bad = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = LEVEL.sub("", " ".join(paragraph.split()))
        for match in PERCENT.finditer(paragraph):
            figure = match.group().replace(" ", "")
            if figure in thesis_text and CITES_THESIS.search(paragraph):
                continue
            bad.append(f"{figure} in: {paragraph[:120]}")
    return bad


@pytest.fixture(scope="module")
def thesis_text() -> str:
    assert THESIS.is_file(), f"the thesis text is expected at {THESIS} (shared/ beside the repo)"
    return THESIS.read_text(encoding="utf-8")


def test_there_are_chapters():
    assert len(CHAPTERS) >= 7


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_types_no_result(path, thesis_text):
    assert typed_percentages(path.read_text(encoding="utf-8"), thesis_text) == []


def test_the_rule_catches_typed_and_uncited_numbers():
    thesis = "Table 5.1 gives 95.21% to EfficientNetB2."
    assert typed_percentages("Our VGG16 reaches 88.6% here.", thesis)  # typed result
    # A thesis figure without a citation in its paragraph is flagged too.
    assert typed_percentages("EfficientNetB2 reached 95.21%.", thesis)
    assert typed_percentages("Table 5.1 gives 95.21% for EfficientNetB2.", thesis) == []
    glued = "Ours is {glue:text}`../notebooks/08-evaluation.ipynb::acc_vgg16` (95% interval)."
    assert typed_percentages(glued, thesis) == []
    block = "```{glue:any} overall_table\n:doc: x.ipynb\n12.5%\n```"
    assert typed_percentages(block, thesis) == []
