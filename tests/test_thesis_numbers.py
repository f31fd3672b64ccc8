"""Every thesis result figure is transcribed once, in ``jewelnet_utils/contracts/thesis.py``.

The distinctive figures of the thesis's result tables (5.1-5.3: four-decimal ratios and their
percentage forms; 6.2: the "≈" cells) are taken from thesis.py itself, then looked for in the
package, the scripts, the notebooks' sources and the chapters:
- in code (package, scripts, notebook code cells) any occurrence is a second transcription;
- in prose (chapters, notebook markdown cells) a figure may be quoted in a paragraph that cites
  the thesis, by the same rule as ``tests/test_chapters.py``; glued values are not text here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from test_chapters import CITES_THESIS, GENERATED_MARK, GLUE_DIRECTIVE, GLUE_ROLE, THESIS

from jewelnet_utils.contracts import thesis

ROOT = Path(__file__).resolve().parents[1]
OWNER = "jewelnet_utils/contracts/thesis.py"


def _cell_forms(cell: str) -> set[str]:
    """The ways a Table 5.x cell can be retyped: as a ratio ("0.9378") and, when two digits
    before the point keep it from matching everyday numbers, as a percentage ("93.78")."""
    percent = float(cell.rstrip("%")) if cell.endswith("%") else 100 * float(cell)
    ratio = f"{percent / 100:.4f}"
    if ratio.endswith("00"):  # 1.0000, 0.9000, 0.0000: too common to tell a transcription
        return set()
    return {ratio} | ({f"{percent:.2f}"} if percent >= 10 else set())


def distinctive_pattern() -> re.Pattern[str]:
    """One regex for every distinctive figure of Tables 5.1-5.3 and 6.2, read from thesis.py."""
    forms: set[str] = set()
    for table in (thesis.TABLE_5_1, thesis.TABLE_5_2, thesis.TABLE_5_3):
        for row in table.rows.values():
            for cell in row.printed.split("\t")[1:]:
                forms |= _cell_forms(cell)
    numbers = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    cells = "|".join(re.escape(c).replace(r"\ ", r"\s?")
                     for row in thesis.TABLE_6_2.rows.values()
                     for c in row.printed.split("\t")[1:] if c.startswith("≈"))
    return re.compile(rf"(?<![\d.])(?:{numbers})(?!\d)|(?:{cells})(?![\d.])")


def _paragraphs(markdown: str) -> Iterator[str]:
    text = GLUE_DIRECTIVE.sub("", GLUE_ROLE.sub("", markdown))
    for paragraph in re.split(r"\n\s*\n", text):
        yield " ".join(paragraph.split())


def _notebook_cells(source: str) -> Iterator[tuple[bool, str]]:
    """(is_markdown, text) per cell of a jupytext percent-format notebook."""
    for cell in re.split(r"^# %%", source, flags=re.M):
        if cell.startswith(" [markdown]"):
            yield True, "\n".join(line.removeprefix("#").removeprefix(" ")
                                  for line in cell.splitlines()[1:])
        else:
            yield False, cell


def transcriptions(root: Path, pattern: re.Pattern[str]) -> list[str]:
    """Every place under ``root`` that types a distinctive thesis figure outside thesis.py."""
    found = []
    code = [*root.glob("jewelnet_utils/**/*.py"), *root.glob("scripts/*.py")]
    for path in sorted(code):
        if path.relative_to(root).as_posix() == OWNER:
            continue
        found += [f"{path.relative_to(root)}: {m.group()}"
                  for m in pattern.finditer(path.read_text(encoding="utf-8"))]
    prose: list[tuple[Path, str]] = []
    for path in sorted(root.glob("notebooks/*.py")):
        for is_markdown, text in _notebook_cells(path.read_text(encoding="utf-8")):
            if is_markdown:
                prose.append((path, text))
            else:
                found += [f"{path.relative_to(root)} (code): {m.group()}"
                          for m in pattern.finditer(text)]
    for path in sorted(root.glob("book/*.md")):
        text = path.read_text(encoding="utf-8")
        if not text.startswith(GENERATED_MARK):
            prose.append((path, text))
    for path, text in prose:
        for paragraph in _paragraphs(text):
            if CITES_THESIS.search(paragraph):
                continue
            found += [f"{path.relative_to(root)} (uncited): {m.group()}"
                      for m in pattern.finditer(paragraph)]
    return found


def test_no_thesis_figure_is_typed_twice():
    assert transcriptions(ROOT, distinctive_pattern()) == []


PRINTED_TABLES = (thesis.TABLE_4_1_CLASSES, thesis.TABLE_5_1, thesis.TABLE_5_2,
                  thesis.TABLE_5_3, thesis.TABLE_6_2)


def misquoted_rows(thesis_lines: list[str]) -> list[str]:
    """Rows of the printed tables that differ from the thesis line they cite."""
    bad = []
    for table in PRINTED_TABLES:
        for key, row in table.rows.items():
            number = int(row.source.rsplit(" ", 1)[1])
            if number > len(thesis_lines) or thesis_lines[number - 1] != row.printed:
                bad.append(f"{table.name} {key} ({row.source})")
    return bad


def test_each_printed_row_is_the_thesis_line_it_cites():
    assert THESIS.is_file(), f"the thesis text is expected at {THESIS} (shared/ beside the repo)"
    lines = THESIS.read_text(encoding="utf-8").split("\n")
    assert misquoted_rows(lines) == []
    moved = ["", *lines]  # every line one further down: each citation now points one too high
    assert len(misquoted_rows(moved)) == sum(len(t.rows) for t in PRINTED_TABLES)


def test_the_pattern_covers_the_result_tables():
    pattern = distinctive_pattern()
    for figure in ("95.21", "0.9521", "94.19", "93.78", "0.9398", "21.74", "0.2174", "≈138M",
                   "≈15.5B", "≈4.1B"):
        assert pattern.fullmatch(figure), figure
    for everyday in ("0.95", "0.75", "1.0000", "195.21", "0.93781", "≈1.05B"):
        assert not pattern.search(everyday), everyday


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_planted_transcription_is_reported(tmp_path):
    pattern = distinctive_pattern()
    _write(tmp_path, OWNER, "ACCURACY = 0.9521\n")  # the one allowed place
    _write(tmp_path, "jewelnet_utils/report/evaluate.py", "OURS = {'vgg16': 0.9419}\n")
    _write(tmp_path, "notebooks/08-x.py", "# %% [markdown]\n# The thesis's Table 5.1 gives "
           "93.78%.\n\n# %%\nclaim = 93.78\n")
    _write(tmp_path, "book/05-results.md", "Table 5.1 of the thesis gives 95.21%.\n\n"
           "EfficientNetB2 reached 95.21% and ResNet50 ≈25M parameters.\n")
    assert sorted(transcriptions(tmp_path, pattern)) == [
        "book/05-results.md (uncited): 95.21",
        "book/05-results.md (uncited): ≈25M",
        "jewelnet_utils/report/evaluate.py: 0.9419",
        "notebooks/08-x.py (code): 93.78",
    ]
