"""A Kaggle link beside Colab's in each notebook page's launch menu.

sphinx-book-theme (Jupyter Book 1.x) builds Binder and Colab links from ``repository.url`` but
has no Kaggle button. Kaggle opens a notebook from its GitHub address, which is exactly what the
Colab link points at, so the Kaggle link is derived from it: the repository URL stays written
in one place (``_config.yml``).
"""

from __future__ import annotations

from typing import Any

COLAB_PREFIX = "https://colab.research.google.com/github/"
KAGGLE_PREFIX = "https://kaggle.com/kernels/welcome?src=https://github.com/"


def kaggle_url(colab_url: str) -> str | None:
    """The Kaggle import link for the notebook a Colab link opens, or None."""
    if not colab_url.startswith(COLAB_PREFIX):
        return None
    return KAGGLE_PREFIX + colab_url[len(COLAB_PREFIX):]


def add_kaggle_button(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                      doctree: Any) -> None:
    """``html-page-context`` handler run after the theme's launch buttons are built."""
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        buttons = group.get("buttons", [])
        colab = [b for b in buttons if b.get("text") == "Colab"]
        url = kaggle_url(colab[0].get("url", "")) if colab else None
        if url and not any(b.get("text") == "Kaggle" for b in buttons):
            buttons.insert(buttons.index(colab[0]) + 1, {
                "type": "link", "text": "Kaggle", "tooltip": "Launch on Kaggle",
                "icon": "fab fa-kaggle", "url": url, "label": "launch-kaggle-button",
            })


def setup(app: Any) -> dict[str, Any]:
    # The theme adds its launch buttons at priority 501; run after it, before rendering.
    app.connect("html-page-context", add_kaggle_button, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
