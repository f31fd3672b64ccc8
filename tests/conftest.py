"""Shared fixtures: tiny folder-per-class image datasets drawn with Pillow on the fly.

Each picture is a blocky random colour background (so every seed gives a visually distinct
image, far apart in perceptual hash) with a class-specific shape and colour on top (so a small
model has something real to learn). Nothing is downloaded and nothing is stored in the repo.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

_SHAPE_COLOURS = [
    (230, 40, 40), (40, 200, 60), (40, 90, 230), (240, 200, 30),
    (200, 40, 220), (30, 210, 210), (250, 130, 20), (120, 60, 20),
]


def draw_image(size: int | tuple[int, int] = 48, seed: int = 0, label: int = 0) -> Image.Image:
    """An RGB picture that differs per ``seed`` and carries a shape that depends on ``label``."""
    width, height = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(blocks, "RGB").resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)
    colour = _SHAPE_COLOURS[label % len(_SHAPE_COLOURS)]
    side = min(width, height)
    r = max(3, int(side * rng.uniform(0.15, 0.3)))
    cx = int(rng.uniform(r, width - r))
    cy = int(rng.uniform(r, height - r))
    box = (cx - r, cy - r, cx + r, cy + r)
    kind = label % 4
    if kind == 0:
        draw.ellipse(box, outline=colour, width=max(1, r // 3))
    elif kind == 1:
        draw.rectangle(box, fill=colour)
    elif kind == 2:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    else:
        draw.line([(cx - r, cy - r), (cx + r, cy + r)], fill=colour, width=max(1, r // 2))
    return img


@pytest.fixture
def write_image() -> Callable[..., Path]:
    """``write_image(path, size=48, seed=0, label=0, mode="RGB", **save_kwargs) -> Path``.

    Draws a picture, converts it to ``mode`` (e.g. "L", "RGBA", "P", "CMYK") and saves it
    with the format implied by the file's extension, creating folders as needed.
    """

    def write(path: str | Path, size: int | tuple[int, int] = 48, seed: int = 0, label: int = 0,
              mode: str = "RGB", **save_kwargs: object) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        img = draw_image(size, seed=seed, label=label)
        if mode != "RGB":
            img = img.convert(mode)
        img.save(path, **save_kwargs)
        return path

    return write


@pytest.fixture
def make_image_folder(tmp_path: Path) -> Callable[..., Path]:
    """``make_image_folder(counts, root=None, size=48, seed=0, ext="png") -> Path``.

    ``counts`` maps folder name to number of images (an int gives that many for the first
    three thesis classes). Files are ``0000.png``, ``0001.png``... Images are distinct across
    folders and seeds; the same arguments always write the same bytes.
    """

    def make(counts: dict[str, int] | int = 5, root: str | Path | None = None,
             size: int | tuple[int, int] = 48, seed: int = 0, ext: str = "png") -> Path:
        if isinstance(counts, int):
            counts = {"bangle": counts, "bracelet": counts, "chain": counts}
        base = Path(root) if root is not None else tmp_path / "data"
        base.mkdir(parents=True, exist_ok=True)
        for label, (folder, n) in enumerate(counts.items()):
            (base / folder).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image_seed = zlib.crc32(f"{seed}/{folder}/{i}".encode())
                img = draw_image(size, seed=image_seed, label=label)
                img.save(base / folder / f"{i:04d}.{ext}")
        return base

    return make



@contextlib.contextmanager
def _refuse_slow_work(item: pytest.Item) -> Iterator[None]:
    """Unless ``item`` is marked ``slow``, training a model or executing a notebook in this
    process, in the test or in a fixture it sets up, fails and says to mark it."""
    if item.get_closest_marker("slow"):
        yield
        return
    import keras
    import papermill

    def refuse(what: str) -> Callable[..., None]:
        def call(*args: object, **kwargs: object) -> None:
            pytest.fail(f"{item.nodeid} {what}: mark it @pytest.mark.slow, so that "
                        '`pytest -m "not slow"` stays a quick loop')
        return call

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "fit", refuse("trains a model"))
        patch.setattr(papermill, "execute_notebook", refuse("executes a notebook"))
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """A test that saved ``keras.Model.fit`` while it was refused, and put that back, must not
    leave every later test refused: after teardown the real method is back."""
    import keras

    real_fit = keras.Model.fit
    yield
    if keras.Model.fit is not real_fit:
        keras.Model.fit = real_fit
        pytest.fail(f"{item.nodeid} left keras.Model.fit patched; restored it")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _refuse_slow_work(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _refuse_slow_work(item):
        yield
