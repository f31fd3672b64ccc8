"""Which boxes of a rendered book page scroll sideways, as a reader's browser lays them out.

Usage: python scripts/page_overflow.py PAGE.html [PAGE.html ...] [--width 1280]

For each page a copy with a small measuring script is opened in headless Chromium (Debian's
``chromium`` package); the script lists every code block, output and table whose content is
wider than its box, and whether the page itself is wider than the window. Exit status 1 when
anything overflows. The copy sits beside the page so its style sheets load, and is removed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

MEASURE = """<script>
window.addEventListener('load', () => {
  const boxes = document.querySelectorAll(
    'div.highlight pre, div.cell_output pre, table, img, div.pst-scrollable-table-container');
  const wide = [];
  boxes.forEach((el) => {
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      const text = (el.innerText || el.getAttribute('alt') || '').trim().split('\\n')[0];
      const size = `${el.scrollWidth}>${el.clientWidth}`;
      wide.push(`${el.tagName.toLowerCase()} ${size}: ${text.slice(0, 70)}`);
    }
  });
  if (document.documentElement.scrollWidth > window.innerWidth) wide.push('the page itself');
  document.body.setAttribute('data-overflow', JSON.stringify(wide));
});
</script>"""


def overflowing(page: Path, width: int) -> list[str]:
    """Descriptions of the boxes of ``page`` that scroll sideways at ``width`` pixels."""
    probe = page.with_name(f".overflow-probe-{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"),
                     encoding="utf-8")
    try:
        dom = subprocess.run(
            [shutil.which("chromium") or "chromium", "--headless", "--no-sandbox",
             "--disable-gpu", f"--window-size={width},900", "--virtual-time-budget=8000",
             "--dump-dom", probe.resolve().as_uri()],
            capture_output=True, text=True, check=True, timeout=120).stdout
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'data-overflow="([^"]*)"', dom)
    if found is None:
        raise SystemExit(f"{page}: the measuring script did not run")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--width", type=int, default=1280, help="window width in pixels")
    args = parser.parse_args()
    failed = False
    for page in args.pages:
        wide = overflowing(page, args.width)
        print(f"{page}: {'no box scrolls sideways' if not wide else f'{len(wide)} scroll'}")
        for line in wide:
            print(f"  {line}")
        failed |= bool(wide)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
