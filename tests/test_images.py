"""The one decoder and resizer (images.py): training arrays, prediction and figures agree."""

from __future__ import annotations

import numpy as np
from PIL import Image

from jewelnet_utils.contracts import decode
from jewelnet_utils.report import recommend


def _stripes(height: int, width: int) -> np.ndarray:
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, [c for c in range(width) if c % 4 >= 2]] = 255
    return arr


def test_square_arrays_resize_like_training_photos():
    arr = _stripes(64, 48)
    expected = np.asarray(decode.resize_square(Image.fromarray(arr), 32), dtype="float32")
    got = decode.resize_array(arr, (32, 32))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_other_shapes_follow_the_same_rule():
    arr = _stripes(64, 64)
    down = decode.resize_array(arr, (16, 32))  # both sides shrink: box filter, exact 2x2 means
    assert down.shape == (16, 32, 3) and set(np.unique(down).tolist()) == {0.0, 255.0}
    up = decode.resize_array(arr[:16, :16], (40, 20))  # one side grows: bilinear
    assert len(np.unique(up)) > 2
    assert decode.resize_array(arr, (64, 64)).dtype == np.float32  # same size: only a cast


def test_thumbnail_bounds_the_longer_side():
    thumb = decode.thumbnail(_stripes(320, 200), side=160)
    assert thumb.shape == (160, 100, 3) and thumb.dtype == np.uint8
    small = _stripes(40, 30)
    assert decode.thumbnail(small, side=160) is small


def test_prediction_sees_what_training_saw(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(_stripes(90, 70)).save(path)
    trained_on = decode.load_image(path, size=24)
    predicted_on = recommend.prepare_image(path, 24)
    np.testing.assert_array_equal(predicted_on, trained_on.astype("float32"))
