"""The four JewelNet classifiers (thesis sections 4.3-4.5) behind one builder.

Every model takes float32 RGB images in [0, 255] and does its own preprocessing inside the
graph, so callers never need to know which backbone they hold. Only Keras 3 APIs are used
(``keras.ops``, ``keras.applications``), so the same code runs under TensorFlow and JAX.

Layer names are part of the contract: the backbone is the nested model ``backbone``, pooled
features come out of ``gap`` (transfer models), the 256-unit feature layer is ``embedding``
(the recommender reads it) and the classifier is ``predictions``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..contracts import thesis
from ..contracts.config import MODEL_SPECS, JewelNetError, check_model

# Keys of ``hparams`` that change the architecture (ARCHITECTURE.md). Training keys
# (learning_rate, batch_size, aug_strength) are accepted and ignored here.
MODEL_HPARAMS = frozenset({"dense1", "dense2", "dropout1", "dropout2", "l2", "trainable_tail"})
TRAIN_HPARAMS = frozenset({"learning_rate", "batch_size", "aug_strength"})

# The ImageNet "no top" files Keras downloads into $KERAS_HOME/models (default ~/.keras/models):
# (file name, origin, md5 as published by keras.applications).
BACKBONE_WEIGHTS: dict[str, tuple[str, str, str]] = {
    "vgg16": (
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
    "resnet50": (
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "4d473c1dd8becc155b73f8504c6f6626",
    ),
    "efficientnetb2": (
        "efficientnetb2_notop.h5",
        "https://storage.googleapis.com/keras-applications/efficientnetb2_notop.h5",
        "111f8e2ac8aa800a7a99e3239f7bfb39",
    ),
}

# EfficientNet's ImageNet standard deviations. keras.applications adds an extra
# Rescaling(1/sqrt(std)) after its Normalization layer *only* when weights="imagenet"; we always
# build the same graph and fold that factor into the Normalization variance instead (see
# ``_load_backbone_file``), so a model's structure never depends on where its weights came from.
_EFFNET_STD_RGB = (0.229, 0.224, 0.225)

# Table 6.2 as published (thesis.TABLE_6_2), kept beside our own counts (never used as if it
# were measured): the parsed numbers, and each cell as printed under a "_text"-style name.
THESIS_CLAIMS: dict[str, dict[str, Any]] = {
    model: {**row.value,
            **dict(zip(("params_text", "input_size_text", "flops_text", "train_time", "inference"),
                       thesis.printed_cells(row, thesis.TABLE_6_2_COLUMNS).values(),
                       strict=True))}
    for model, row in thesis.TABLE_6_2.rows.items()
}


@keras.saving.register_keras_serializable(package="jewelnet")
class BackbonePreprocess(keras.layers.Layer):
    """The backbone's own ``preprocess_input`` as a graph layer (no Lambda, so .keras files
    load without unsafe deserialisation and the op runs under any backend)."""

    _FUNCS = {
        "vgg16": keras.applications.vgg16.preprocess_input,
        "resnet50": keras.applications.resnet50.preprocess_input,
    }

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if backbone not in self._FUNCS:
            raise ValueError(f"no preprocessing known for backbone {backbone!r}")
        self.backbone = backbone

    def call(self, inputs: Any) -> Any:
        return self._FUNCS[self.backbone](keras.ops.cast(inputs, self.compute_dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


CUSTOM_OBJECTS = {"BackbonePreprocess": BackbonePreprocess}
# Backbones whose inputs go through their own ``preprocess_input`` (EfficientNet rescales inside).
PREPROCESSED_BACKBONES = frozenset(BackbonePreprocess._FUNCS)

# BatchNorm momentum of the custom CNN (the thesis does not give one). L2 0.01 on every conv
# kernel shrinks the pre-BN activations fast, and with a few dozen updates per epoch Keras's
# default 0.99 moving averages lag so far behind that inference-mode outputs collapse to one
# class for the first epochs. 0.9 tracks within ~10 updates; training-mode behaviour is
# unchanged.
CUSTOM_BN_MOMENTUM = 0.9


def load_model(path: str | os.PathLike[str], compile: bool = False) -> keras.Model:
    """Load a run's ``model.keras`` (registers JewelNet's custom layers first)."""
    path = Path(path)
    if not path.exists():
        raise JewelNetError(f"model file not found: {path}")
    return keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=compile)


# --------------------------------------------------------------------------- hyperparameters

def resolve_hparams(name: str, hparams: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Model spec of ``name`` with ``hparams`` overrides applied; unknown keys are an error."""
    spec = MODEL_SPECS[check_model(name)]
    hparams = dict(hparams or {})
    unknown = set(hparams) - MODEL_HPARAMS - TRAIN_HPARAMS
    if unknown:
        raise JewelNetError(
            f"unknown hyperparameter(s) {', '.join(sorted(unknown))}; known: "
            f"{', '.join(sorted(MODEL_HPARAMS | TRAIN_HPARAMS))}"
        )
    out = {
        "dense1": int(hparams.get("dense1", spec.dense_units[0])),
        "dense2": int(hparams.get("dense2", spec.dense_units[1])),
        "dropout1": float(hparams.get("dropout1", spec.dropout[0])),
        "dropout2": float(hparams.get("dropout2", spec.dropout[1])),
        "l2": float(hparams.get("l2", spec.l2)),
        "trainable_tail": hparams.get("trainable_tail", spec.trainable_tail),
    }
    for key in ("dropout1", "dropout2"):
        if not 0.0 <= out[key] < 1.0:
            raise JewelNetError(f"hyperparameter {key}={out[key]} must lie in [0, 1)")
    if out["trainable_tail"] is not None:
        out["trainable_tail"] = int(out["trainable_tail"])
    return out


def _l2(value: float) -> keras.regularizers.Regularizer | None:
    return keras.regularizers.L2(value) if value > 0 else None


# --------------------------------------------------------------------------- weights

def keras_models_dir() -> Path:
    """Where Keras caches application weights: $KERAS_HOME/models, else ~/.keras/models.

    Read at call time (Keras itself reads KERAS_HOME once, at import)."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def _download_backbone_weights(name: str, cache_dir: Path) -> Path:
    """Fetch the ImageNet notop file into ``cache_dir`` (tests replace this function)."""
    fname, origin, md5 = BACKBONE_WEIGHTS[name]
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # a dead network fails in seconds, not minutes
    try:
        path = keras.utils.get_file(fname, origin, cache_subdir=cache_dir.name,
                                    cache_dir=str(cache_dir.parent), file_hash=md5)
    finally:
        socket.setdefaulttimeout(previous)
    return Path(path)


def imagenet_weights_file(name: str, download: bool = True) -> Path:
    """Path of ``name``'s ImageNet notop file, downloading it only if it is not cached.

    Never falls back to random weights: a missing file is a :class:`JewelNetError` that says
    which file, where it goes and what the alternatives are."""
    fname = BACKBONE_WEIGHTS[name][0]
    cache_dir = keras_models_dir()
    cached = cache_dir / fname
    if cached.is_file():
        return cached
    reason = "downloads are disabled"
    if download:
        try:
            return _download_backbone_weights(name, cache_dir)
        except Exception as err:  # noqa: BLE001 - any network/IO failure means "not available"
            reason = f"downloading it failed ({type(err).__name__}: {err})".replace("\n", " ")
    raise JewelNetError(
        f"ImageNet weights for {name} are not available: the file {fname} is not in "
        f"{cache_dir} and {reason}. Copy {fname} into ~/.keras/models/ (or "
        f"$KERAS_HOME/models/ if KERAS_HOME is set), or pass --weights PATH pointing at a copy "
        f"of it (or at a full-model .weights.h5/.keras file), or pass --weights none to start "
        f"from random initialisation, which changes the results and is recorded in the run's "
        f"config.json."
    )


# Suffix of a backbone file written by ``jewelnet pretrain`` (Keras 3 weights of the nested
# ``backbone`` model only); distinct from a whole model's ``.weights.h5``.
PRETEXT_SUFFIX = ".backbone.weights.h5"


def weights_kind(name: str, weights: str | os.PathLike[str] | None) -> str:
    """Classify a ``weights`` argument: 'none', 'imagenet', 'pretext' (the cached backbone of
    ``jewelnet pretrain``, resolved by ``pretrain.resolve_backbone``), 'pretext_file',
    'backbone_file' or 'model_file'."""
    if weights is None or (isinstance(weights, str) and weights.lower() in ("none", "")):
        return "none"
    if isinstance(weights, str) and weights.lower() in ("imagenet", "pretext"):
        # The custom CNN is trained from scratch (section 4.3): no pretrained weights exist.
        return "none" if name == "custom_cnn" else weights.lower()
    path = Path(weights)
    if not path.is_file():
        raise JewelNetError(
            f"weights file not found: {path} (use imagenet, pretext, none, or the path of a "
            f"file)"
        )
    text = path.name.lower()
    if text.endswith(PRETEXT_SUFFIX) and name != "custom_cnn":
        return "pretext_file"
    if text.endswith(".keras") or text.endswith(".weights.h5") or name == "custom_cnn":
        return "model_file"
    if text.endswith((".h5", ".hdf5")):
        return "backbone_file"
    raise JewelNetError(
        f"cannot tell what {path} holds; expected a .keras or .weights.h5 file of the whole "
        f"model, or a Keras application notop .h5 file of the backbone"
    )


def _load_backbone_file(name: str, backbone: keras.Model, path: Path,
                        imagenet: bool = True) -> None:
    """Load a backbone file; ``imagenet``: it is Keras's notop download (EfficientNet then
    needs its ImageNet std folded in; our own pretext backbones were trained without it)."""
    try:
        backbone.load_weights(str(path))
    except Exception as err:  # noqa: BLE001 - surface as one clear line
        raise JewelNetError(
            f"cannot load backbone weights from {path} into {name}: {err}".replace("\n", " ")
        ) from err
    if name == "efficientnetb2" and imagenet:
        norm = next(la for la in backbone.layers if isinstance(la, keras.layers.Normalization))
        var = keras.ops.convert_to_numpy(norm.adapt_variance)
        std = np.asarray(_EFFNET_STD_RGB, dtype=var.dtype).reshape(var.shape)
        norm.adapt_variance.assign(var * std)
        # The legacy .h5 loader assigns the variables but does not refresh the mean/variance
        # tensors the layer computes with; finalize_state() does.
        norm.finalize_state()


# --------------------------------------------------------------------------- builders

def custom_cnn(size: int, num_classes: int, hp: dict[str, Any]) -> keras.Model:
    """Table 4.3's network, randomly initialised (``build_model`` resolves ``hp``)."""
    reg = hp["l2"]
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for i, filters in enumerate((32, 64, 128, 256), start=1):
        # Table 4.3's output shapes (111, 54, 26, 12 at 224 px) need *valid* 3x3 convolutions
        # before each 2x2 pooling; the text's "proper padding" would give 112, 56, 28, 14.
        # We follow the table.
        x = keras.layers.Conv2D(filters, 3, padding="valid", kernel_regularizer=_l2(reg),
                                name=f"block{i}_conv")(x)
        x = keras.layers.BatchNormalization(momentum=CUSTOM_BN_MOMENTUM, name=f"block{i}_bn")(x)
        x = keras.layers.ReLU(name=f"block{i}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(hp["dense1"], activation="relu", kernel_regularizer=_l2(reg),
                           name="fc1")(x)
    x = keras.layers.Dropout(hp["dropout1"], name="dropout1")(x)
    x = keras.layers.Dense(hp["dense2"], activation="relu", kernel_regularizer=_l2(reg),
                           name="embedding")(x)
    x = keras.layers.Dropout(hp["dropout2"], name="dropout2")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=_l2(reg),
                                 name="predictions")(x)
    return keras.Model(inputs, outputs, name="jewelnet_custom_cnn")


def build_backbone(name: str, size: int) -> keras.Model:
    """The transfer model's convolutional base, named ``backbone``, with random weights."""
    shape = (size, size, 3)
    factory = {
        "vgg16": keras.applications.VGG16,
        "resnet50": keras.applications.ResNet50,
        "efficientnetb2": keras.applications.EfficientNetB2,
    }[name]
    # Always the random-init graph; ImageNet weights are loaded afterwards from a file we
    # located ourselves (so no hidden download and one graph for every weights source).
    return factory(include_top=False, weights=None, input_shape=shape, name="backbone")


def switch_off_stochastic_depth(backbone: keras.Model) -> int:
    """Set every block-dropping layer of ``backbone`` to rate 0; returns how many there were.
    (Each is a Dropout named "<block>_drop" whose noise is shared over the whole feature map,
    so it drops the block.)"""
    block_drops = [layer for layer in backbone.layers
                   if isinstance(layer, keras.layers.Dropout) and layer.name.endswith("_drop")]
    for layer in block_drops:
        layer.rate = 0.0
    return len(block_drops)


def head_layers(name: str, num_classes: int, hp: dict[str, Any]) -> list[keras.layers.Layer]:
    """The classification head that follows global average pooling (sections 4.4-4.5)."""
    layers: list[keras.layers.Layer] = []
    if name == "efficientnetb2":  # Listing C.1: BatchNorm right after pooling
        layers.append(keras.layers.BatchNormalization(name="head_bn"))
    layers += [
        # Listing C.1 puts L2 on the Dense(512) only; VGG16/ResNet50 have none (Table B.1).
        keras.layers.Dense(hp["dense1"], activation="relu", kernel_regularizer=_l2(hp["l2"]),
                           name="fc1"),
        keras.layers.Dropout(hp["dropout1"], name="dropout1"),
        keras.layers.Dense(hp["dense2"], activation="relu", name="embedding"),
        keras.layers.Dropout(hp["dropout2"], name="dropout2"),
        keras.layers.Dense(num_classes, activation="softmax", name="predictions"),
    ]
    return layers


def transfer_model(name: str, size: int, num_classes: int, hp: dict[str, Any]) -> keras.Model:
    """A backbone without its ImageNet classifier, then pooling and the thesis's head
    (``build_model`` resolves ``hp`` and loads the backbone's weights)."""
    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    if name in BackbonePreprocess._FUNCS:
        x = BackbonePreprocess(name, name="preprocess")(x)
    # EfficientNet rescales [0, 255] itself (its first layers), so it takes the raw image.
    backbone = build_backbone(name, size)
    # training=False: the backbone's BatchNorm layers always run in inference mode, also when
    # its top layers are unfrozen in stage 2 (their statistics come from ImageNet).
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    for layer in head_layers(name, num_classes, hp):
        x = layer(x)
    return keras.Model(inputs, x, name=f"jewelnet_{name}")


def build_model(
    name: str,
    num_classes: int = 8,
    input_size: int | None = None,
    weights: str | os.PathLike[str] | None = "imagenet",
    hparams: Mapping[str, Any] | None = None,
) -> keras.Model:
    """Build one of the four classifiers for float32 [0, 255] images of ``input_size`` px.

    ``weights``: "imagenet" (the cached Keras notop file; a clear error if it is missing),
    None/"none" (random initialisation), or a path: a whole-model ``.keras``/``.weights.h5``
    file, or a backbone notop ``.h5`` such as Keras's own downloads. The custom CNN is always
    trained from scratch, so "imagenet" means random initialisation for it.
    """
    check_model(name)
    hp = resolve_hparams(name, hparams)
    size = int(input_size or MODEL_SPECS[name].input_size)
    # Four valid 3x3 convolutions + 2x2 poolings need 46 px; the backbones need 32.
    smallest = 46 if name == "custom_cnn" else 32
    if size < smallest:
        raise JewelNetError(f"input size {size} is too small for {name}; use at least "
                            f"{smallest} pixels")
    if num_classes < 2:
        raise JewelNetError(f"num_classes must be at least 2, got {num_classes}")
    kind = weights_kind(name, weights)
    if kind == "pretext":
        from .pretrain import resolve_backbone

        # Without a profile the recipe is $PROFILE's (else cpu's); train_model resolves it
        # with the run's own profile before calling here.
        weights, kind = resolve_backbone(name), "pretext_file"
    # Resolve the ImageNet file before spending time on the graph (and fail fast offline).
    backbone_file = (imagenet_weights_file(name) if kind == "imagenet"
                     else Path(weights) if kind in ("backbone_file", "pretext_file") else None)

    if name == "custom_cnn":
        model = custom_cnn(size, num_classes, hp)
    else:
        model = transfer_model(name, size, num_classes, hp)
        if backbone_file is not None:
            _load_backbone_file(name, backbone_of(model), backbone_file,
                                imagenet=kind != "pretext_file")
        if kind == "pretext_file":
            from .pretrain import pretrained_with_stochastic_depth

            if not pretrained_with_stochastic_depth(backbone_file):
                # Blocks that never learned to be skipped: skipping them while fine-tuning
                # would feed the head features the backbone never produced.
                switch_off_stochastic_depth(backbone_of(model))
    if kind == "model_file":
        try:
            model.load_weights(str(weights))
        except Exception as err:  # noqa: BLE001
            raise JewelNetError(
                f"cannot load weights from {weights} into {name} at {size} px with "
                f"{num_classes} classes: {err}".replace("\n", " ")
            ) from err
    set_stage(model, 1)
    return model


# --------------------------------------------------------------------------- stages

def model_name_of(model: keras.Model) -> str:
    """Architecture key of a model built here (from its name ``jewelnet_<key>``)."""
    key = model.name.removeprefix("jewelnet_")
    return check_model(key)


def backbone_of(model: keras.Model) -> keras.Model | None:
    """The nested pretrained backbone of a transfer model, None for the custom CNN."""
    try:
        layer = model.get_layer("backbone")
    except ValueError:
        return None
    return layer if isinstance(layer, keras.Model) else None


def set_stage(model: keras.Model, stage: int, trainable_tail: int | None = None) -> None:
    """Freeze for a training stage; recompile afterwards.

    Stage 1: backbone frozen, head trainable. Stage 2: additionally the last
    ``trainable_tail`` layers of the backbone (default from ``MODEL_SPECS``) except every
    BatchNormalization layer, which stays frozen. The custom CNN is always fully trainable.
    """
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    model.trainable = True
    backbone = backbone_of(model)
    if backbone is None:
        return
    if stage == 1:
        backbone.trainable = False
        for layer in backbone.layers:  # Keras leaves the flags stage 2 set on inner layers
            layer.trainable = False
        return
    if trainable_tail is None:
        trainable_tail = MODEL_SPECS[model_name_of(model)].trainable_tail or 0
    layers = backbone.layers
    first = max(len(layers) - int(trainable_tail), 0)
    for index, layer in enumerate(layers):
        layer.trainable = index >= first and not isinstance(
            layer, keras.layers.BatchNormalization
        )


def freeze_report(model: keras.Model) -> dict[str, int]:
    """How much of a transfer model's backbone trains as its trainability is now set:
    layers with weights, how many are trainable, and the same for BatchNormalization."""
    backbone = backbone_of(model)
    if backbone is None:
        raise JewelNetError(f"{model.name} has no pretrained backbone to freeze")
    weighted = [layer for layer in backbone.layers if layer.weights]
    norms = [layer for layer in weighted if isinstance(layer, keras.layers.BatchNormalization)]
    return {
        "backbone layers with weights": len(weighted),
        "trainable": sum(layer.trainable for layer in weighted),
        "BatchNormalization layers": len(norms),
        "trainable BatchNormalization": sum(layer.trainable for layer in norms),
        "trainable parameters (whole model)": count_params(model)["trainable"],
    }


def tail_layer_types(model: keras.Model, tail: int) -> dict[str, dict[str, int]]:
    """The last ``tail`` backbone layers by layer type: how many train and how many stay
    frozen as the model's trainability is now set (BatchNorm stays frozen in stage 2)."""
    counts: dict[str, dict[str, int]] = {}
    for layer in backbone_of(model).layers[-tail:] if tail else []:
        kind = counts.setdefault(type(layer).__name__, {"trainable": 0, "frozen": 0})
        kind["trainable" if layer.trainable else "frozen"] += 1
    return counts


def feature_model(model: keras.Model) -> keras.Model:
    """Image -> pooled backbone features (the ``gap`` output) of a transfer model."""
    return keras.Model(model.input, model.get_layer("gap").output,
                       name=f"{model.name}_features")


def head_model(model: keras.Model) -> keras.Model:
    """Pooled features -> class probabilities, made of the *same* layer objects as ``model``
    (weights are shared), so training it on cached features trains the full model's head."""
    gap = model.get_layer("gap")
    dim = int(gap.output.shape[-1])
    inputs = keras.Input((dim,), name="features")
    x = inputs
    seen = False
    for layer in model.layers:
        if seen:
            x = layer(x)
        seen = seen or layer is gap
    return keras.Model(inputs, x, name=f"{model.name}_head")


def layer_summary(model: keras.Model) -> list[tuple[str, str]]:
    """(layer, detail) for each top-level layer, input first: class, output shape and
    parameters. The nested backbone is one entry saying how much of it trains in stage 2,
    which is what a diagram of the model needs to show."""
    rows = [("Input", f"{tuple(model.inputs[0].shape[1:])} RGB, 0-255")]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = tuple(layer.output.shape[1:])
        params = count_params(layer)["total"] if layer.weights else 0
        detail = f"{type(layer).__name__}, output {shape}"
        if params:
            detail += f", {params:,} parameters"
        if layer is backbone_of(model):
            tail = MODEL_SPECS[model_name_of(model)].trainable_tail or 0
            detail += (f"; frozen in stage 1, last {tail} of {len(layer.layers)} layers "
                       "(BatchNorm excepted) train in stage 2")
        rows.append((layer.name, detail))
    return rows


# --------------------------------------------------------------------------- accounting

def count_params(model: keras.Model) -> dict[str, int]:
    """Total, trainable and non-trainable parameter counts (trainability as currently set)."""
    def size(weights: list) -> int:
        return int(sum(int(np.prod(w.shape)) for w in weights))

    total = size(model.weights)
    trainable = size(model.trainable_weights)
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def flops(model: keras.Model) -> int:
    """Multiply-accumulate count of one image's forward pass over Conv2D, DepthwiseConv2D,
    SeparableConv2D and Dense layers: the convention behind Table 6.2's "FLOPs" (VGG16 at
    224 px is about 15.5 G by it). Element-wise ops, pooling and BatchNorm are not counted."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += flops(layer)
            continue
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                                  keras.layers.SeparableConv2D, keras.layers.Dense)):
            continue
        in_shape = tuple(layer.input.shape)
        out_shape = tuple(layer.output.shape)
        if isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(out_shape[1:-1])) if len(out_shape) > 2 else 1
            total += positions * int(in_shape[-1]) * int(out_shape[-1])
            continue
        kh, kw = layer.kernel_size
        h, w, c_out = (int(v) for v in out_shape[1:4])
        c_in = int(in_shape[-1])
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            total += h * w * c_in * layer.depth_multiplier * kh * kw
        elif isinstance(layer, keras.layers.SeparableConv2D):
            total += h * w * c_in * layer.depth_multiplier * kh * kw
            total += h * w * c_in * layer.depth_multiplier * c_out
        else:
            total += h * w * c_out * kh * kw * c_in // layer.groups
    return int(total)
