"""Table 4.2 augmentation as a Keras 3 preprocessing pipeline.

Images go in and come out as float32 RGB in [0, 255]. Every layer is random only when called
with ``training=True`` (the default when called directly, as for Keras's own preprocessing
layers) and the identity with ``training=False``. Built from ``keras.layers`` and ``keras.ops``
only, so the pipeline runs inside a ``tf.data`` map (TensorFlow backend) and on NumPy batches
(any backend, e.g. inside a ``keras.utils.PyDataset`` under JAX).

Where Keras 3 lacks the thesis's semantics we write a small layer:

* brightness: Keras's ``RandomBrightness`` *adds* a delta; Table 4.2's "0.8 to 1.2 range" is
  the Keras 2 ``brightness_range``, a *multiplicative* factor -> :class:`RandomBrightnessScale`.
* shear: Keras's ``RandomShear`` shears about the image corner (so it also translates);
  Keras 2 sheared about the centre -> :class:`RandomCenteredShear`. We read Table 4.2's
  "+-0.15" as the shear coefficient (tan of the angle, about 8.5 degrees); in Keras 2 it was
  nominally degrees, which would be an invisible 0.15 degree shear.
* channel shift -> :class:`ChannelShift` (Keras 3 has none).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .config import Augmentation


def _as_batch(images: Any) -> tuple[Any, bool]:
    images = ops.convert_to_tensor(images)
    if len(images.shape) == 3:
        return ops.expand_dims(images, 0), True
    return images, False


def _restore(images: Any, unbatched: bool) -> Any:
    return ops.squeeze(images, 0) if unbatched else images


class _RandomImageLayer(keras.layers.Layer):
    """Base of our random layers: a seeded generator and the training switch."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}

    def call(self, inputs: Any, training: bool | None = True) -> Any:
        if not training:
            return inputs
        images, unbatched = _as_batch(ops.cast(inputs, self.compute_dtype))
        return _restore(self.augment(images), unbatched)

    def augment(self, images: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


@keras.saving.register_keras_serializable(package="jewelnet")
class ChannelShift(_RandomImageLayer):
    """Adds one uniform offset in [-shift, +shift] x 255 per image and channel, then clips to
    [0, 255] (Table 4.2 "Channel Shift +-10%": colour-cast tolerance)."""

    def __init__(self, shift: float = 0.1, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.shift = float(shift)

    def augment(self, images: Any) -> Any:
        shape = ops.shape(images)
        delta = self.shift * 255.0
        offsets = keras.random.uniform((shape[0], 1, 1, shape[3]), -delta, delta,
                                       dtype=images.dtype, seed=self.seed_generator)
        return ops.clip(images + offsets, 0.0, 255.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shift": self.shift}


@keras.saving.register_keras_serializable(package="jewelnet")
class RandomBrightnessScale(_RandomImageLayer):
    """Multiplies each image by one factor drawn from ``factor_range`` and clips to [0, 255]
    (Keras 2's ``brightness_range`` semantics, which Table 4.2 describes)."""

    def __init__(self, factor_range: tuple[float, float] = (0.8, 1.2), seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        lo, hi = (float(v) for v in factor_range)
        if not 0 <= lo <= hi:
            raise ValueError(f"brightness range must satisfy 0 <= low <= high, got {lo}, {hi}")
        self.factor_range = (lo, hi)

    def augment(self, images: Any) -> Any:
        lo, hi = self.factor_range
        factors = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), lo, hi,
                                       dtype=images.dtype, seed=self.seed_generator)
        return ops.clip(images * factors, 0.0, 255.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor_range": list(self.factor_range)}


@keras.saving.register_keras_serializable(package="jewelnet")
class RandomCenteredShear(_RandomImageLayer):
    """Horizontal shear about the image centre by a coefficient drawn from
    [-intensity, intensity]; ``fill_mode`` as in Keras's geometric layers."""

    def __init__(self, intensity: float = 0.15, fill_mode: str = "nearest",
                 interpolation: str = "bilinear", seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.intensity = float(intensity)
        self.fill_mode = fill_mode
        self.interpolation = interpolation

    def augment(self, images: Any) -> Any:
        shape = ops.shape(images)
        batch = shape[0]
        shear = keras.random.uniform((batch,), -self.intensity, self.intensity,
                                     dtype="float32", seed=self.seed_generator)
        centre_y = (ops.cast(shape[1], "float32") - 1.0) / 2.0
        ones = ops.ones_like(shear)
        zeros = ops.zeros_like(shear)
        # Output pixel (x, y) samples the input at (x + s * (y - cy), y).
        transform = ops.stack([ones, shear, -shear * centre_y, zeros, ones, zeros, zeros, zeros],
                              axis=1)
        out = ops.image.affine_transform(images, transform, interpolation=self.interpolation,
                                         fill_mode=self.fill_mode)
        return ops.cast(out, images.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "intensity": self.intensity,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation}


def build_augmenter(aug: Augmentation | None = None, seed: int | None = None) -> keras.Sequential:
    """The Table 4.2 pipeline for ``aug`` (default: the thesis ranges).

    Ranges that are zero are left out, so ``aug.scaled(0)`` is an identity pipeline. ``seed``
    makes the sequence of random draws reproducible (each layer gets its own derived seed).
    """
    aug = aug or Augmentation()
    fill = aug.fill_mode

    def sub(i: int) -> int | None:
        return None if seed is None else int(seed) * 101 + i

    layers: list[keras.layers.Layer] = []
    if aug.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=sub(0), name="flip"))
    if aug.rotation_deg > 0:
        layers.append(keras.layers.RandomRotation(aug.rotation_deg / 360.0, fill_mode=fill,
                                                  seed=sub(1), name="rotation"))
    if aug.width_shift > 0 or aug.height_shift > 0:
        layers.append(keras.layers.RandomTranslation(aug.height_shift, aug.width_shift,
                                                     fill_mode=fill, seed=sub(2),
                                                     name="translation"))
    if aug.shear > 0:
        layers.append(RandomCenteredShear(aug.shear, fill_mode=fill, seed=sub(3), name="shear"))
    if aug.zoom > 0:
        # Same factor for height and width (aspect ratio kept); negative values zoom in.
        layers.append(keras.layers.RandomZoom((-aug.zoom, aug.zoom), fill_mode=fill,
                                              seed=sub(4), name="zoom"))
    lo, hi = aug.brightness
    if (lo, hi) != (1.0, 1.0):
        layers.append(RandomBrightnessScale((lo, hi), seed=sub(5), name="brightness"))
    if aug.channel_shift > 0:
        layers.append(ChannelShift(aug.channel_shift, seed=sub(6), name="channel_shift"))
    if not layers:
        layers.append(keras.layers.Identity(name="identity"))
    # Batches of any size and side length; a Sequential would otherwise fix the shape it first
    # sees. Inputs must be batched (rank 4): map the pipeline after ``Dataset.batch``.
    return keras.Sequential([keras.Input(shape=(None, None, 3)), *layers], name="augmentation")
