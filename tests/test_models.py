"""Architectures (Table 4.3, sections 4.4-4.5, Listing C.1), stages, weights and augmentation.

Everything runs offline with random weights and tiny inputs; no ImageNet file exists here.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py
import keras
import numpy as np
import pytest

from jewelnet_utils.contracts import config
from jewelnet_utils.contracts.config import (
    MODEL_SPECS,
    MODELS,
    PROFILES,
    Augmentation,
    JewelNetError,
)
from jewelnet_utils.run import models
from jewelnet_utils.split import augment
from jewelnet_utils.tools.audit_thesis import custom_cnn_param_count

SMALL = {"custom_cnn": 48, "vgg16": 32, "resnet50": 32, "efficientnetb2": 32}


@pytest.fixture(scope="module")
def small_models() -> dict[str, keras.Model]:
    """One random-weight model per architecture at the smallest input it accepts."""
    keras.utils.set_random_seed(0)
    return {m: models.build_model(m, weights=None, input_size=SMALL[m]) for m in MODELS}


# --------------------------------------------------------------------------- architecture

def test_custom_cnn_output_shapes_match_table_4_3() -> None:
    model = models.build_model("custom_cnn", weights=None)  # paper size: 224
    shape = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shape["image"] == (224, 224, 3)
    assert shape["block1_pool"] == (111, 111, 32)
    assert shape["block2_pool"] == (54, 54, 64)
    assert shape["block3_pool"] == (26, 26, 128)
    assert shape["block4_pool"] == (12, 12, 256)
    assert shape["fc1"] == (512,)
    assert shape["embedding"] == (256,)
    assert shape["predictions"] == (8,)
    kinds = [type(model.get_layer(f"block1_{k}")).__name__ for k in ("conv", "bn", "relu", "pool")]
    assert kinds == ["Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D"]
    assert model.get_layer("block1_conv").padding == "valid"  # Table 4.3's shapes need it
    assert model.get_layer("block4_bn").momentum == models.CUSTOM_BN_MOMENTUM
    assert isinstance(model.get_layer("rescale"), keras.layers.Rescaling)
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)
    # The built network has exactly the parameters worked out layer by layer from Table 4.3.
    assert models.count_params(model)["total"] == custom_cnn_param_count(224)["total"]
    assert custom_cnn_param_count(224)["total"] == 19_398_600
    # L2 0.01 on every convolution and dense kernel (section 4.3).
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            assert layer.kernel_regularizer.l2 == pytest.approx(0.01), layer.name


def _dense(model: keras.Model, name: str) -> keras.layers.Dense:
    layer = model.get_layer(name)
    assert isinstance(layer, keras.layers.Dense)
    return layer


@pytest.mark.parametrize("name", MODELS)
def test_head_structure(name: str, small_models: dict[str, keras.Model]) -> None:
    model = small_models[name]
    spec = MODEL_SPECS[name]
    fc1, emb, out = (_dense(model, n) for n in ("fc1", "embedding", "predictions"))
    assert (fc1.units, emb.units, out.units) == (512, 256, 8)
    assert fc1.activation.__name__ == emb.activation.__name__ == "relu"
    assert out.activation.__name__ == "softmax"
    assert model.get_layer("dropout1").rate == pytest.approx(spec.dropout[0])
    assert model.get_layer("dropout2").rate == pytest.approx(spec.dropout[1])
    names = [layer.name for layer in model.layers]
    # The head is a chain: ... fc1, dropout1, embedding, dropout2, predictions.
    assert names[-5:] == ["fc1", "dropout1", "embedding", "dropout2", "predictions"]
    if name == "custom_cnn":
        assert models.backbone_of(model) is None
        return
    assert names[names.index("gap") + 1] == ("head_bn" if name == "efficientnetb2" else "fc1")
    assert isinstance(model.get_layer("gap"), keras.layers.GlobalAveragePooling2D)
    assert models.backbone_of(model) is not None
    if name == "efficientnetb2":  # Listing C.1: L2 on the Dense(512) only; built-in rescaling
        assert fc1.kernel_regularizer.l2 == pytest.approx(0.01)
        assert emb.kernel_regularizer is None and out.kernel_regularizer is None
        assert isinstance(model.get_layer("head_bn"), keras.layers.BatchNormalization)
        assert "preprocess" not in names
    else:  # Table B.1: no L2; the backbone's own preprocess_input inside the graph
        assert fc1.kernel_regularizer is None
        assert isinstance(model.get_layer("preprocess"), models.BackbonePreprocess)


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_preprocess_layer_is_keras_preprocess_input(name: str) -> None:
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = getattr(keras.applications, name).preprocess_input(x.copy())
    got = keras.ops.convert_to_numpy(models.BackbonePreprocess(name)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)


def test_default_input_sizes_and_bad_sizes() -> None:
    assert models.build_model("custom_cnn", weights=None).input_shape == (None, 224, 224, 3)
    with pytest.raises(JewelNetError, match="too small"):
        models.build_model("custom_cnn", weights=None, input_size=40)
    with pytest.raises(JewelNetError, match="unknown model"):
        models.build_model("alexnet", weights=None)


def test_hparams_override_the_spec() -> None:
    hp = {"dense1": 64, "dense2": 32, "dropout1": 0.1, "dropout2": 0.2, "l2": 0.001,
          "learning_rate": 1e-3}  # training keys are accepted and ignored here
    model = models.build_model("vgg16", weights=None, input_size=32, hparams=hp)
    assert (model.get_layer("fc1").units, model.get_layer("embedding").units) == (64, 32)
    assert model.get_layer("dropout1").rate == pytest.approx(0.1)
    assert model.get_layer("dropout2").rate == pytest.approx(0.2)
    assert model.get_layer("fc1").kernel_regularizer.l2 == pytest.approx(0.001)
    with pytest.raises(JewelNetError, match="unknown hyperparameter"):
        models.build_model("vgg16", weights=None, input_size=32, hparams={"dense3": 5})
    with pytest.raises(JewelNetError, match="dropout1"):
        models.resolve_hparams("vgg16", {"dropout1": 1.5})


# --------------------------------------------------------------------------- stages

def _trainable_weight_count(layer: keras.layers.Layer) -> int:
    return len(layer.trainable_weights)


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "efficientnetb2"])
def test_stage_freezing(name: str, small_models: dict[str, keras.Model]) -> None:
    model = small_models[name]
    backbone = models.backbone_of(model)
    models.set_stage(model, 1)
    assert len(backbone.trainable_weights) == 0
    head = [la for la in model.layers if la is not backbone]
    assert all(la.trainable for la in head)
    stage1 = models.count_params(model)
    assert stage1["trainable"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    tail = MODEL_SPECS[name].trainable_tail
    models.set_stage(model, 2)
    layers = backbone.layers
    for index, layer in enumerate(layers):
        in_tail = index >= len(layers) - tail
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        assert layer.trainable == (in_tail and not is_bn), layer.name
        if not layer.trainable:
            assert _trainable_weight_count(layer) == 0, layer.name
    expected = [la.name for la in layers[-tail:]
                if la.weights and not isinstance(la, keras.layers.BatchNormalization)]
    assert [la.name for la in layers if la.trainable_weights] == expected
    assert models.count_params(model)["trainable"] > stage1["trainable"]
    assert models.count_params(model)["total"] == model.count_params()

    if name == "vgg16":  # block4_conv1 (256 -> 512), five 512 -> 512 convs, head 512-256-8
        head = (512 * 512 + 512) + (512 * 256 + 256) + (256 * 8 + 8)
        conv = (9 * 256 * 512 + 512) + 5 * (9 * 512 * 512 + 512)
        assert models.count_params(model)["trainable"] == conv + head == 13_375_240

    models.set_stage(model, 2, trainable_tail=3)  # hparams "trainable_tail" override
    assert [la.trainable for la in layers[-4:]] == [
        False, *[not isinstance(la, keras.layers.BatchNormalization) for la in layers[-3:]]]
    models.set_stage(model, 1)


def test_cpu_profile_fine_tunes_the_whole_efficientnetb2_backbone(
        small_models: dict[str, keras.Model]) -> None:
    """The cpu profile's EfficientNetB2 tail is the whole Keras base: every layer with weights
    except BatchNormalization trains in stage 2 (Table B.1's 50 elsewhere)."""
    model = small_models["efficientnetb2"]
    layers = models.backbone_of(model).layers
    assert len(layers) == config.EFFICIENTNETB2_BACKBONE_LAYERS
    assert PROFILES["cpu"].trainable_tail("efficientnetb2") == len(layers)
    assert PROFILES["paper"].trainable_tail("efficientnetb2") == 50
    assert PROFILES["cpu"].trainable_tail("vgg16") == MODEL_SPECS["vgg16"].trainable_tail
    assert PROFILES["cpu"].trainable_tail("custom_cnn") is None
    models.set_stage(model, 2, PROFILES["cpu"].trainable_tail("efficientnetb2"))
    assert [la.name for la in layers if not la.trainable] == [
        la.name for la in layers if isinstance(la, keras.layers.BatchNormalization)]
    assert layers[0].trainable and layers[-1].name == "top_activation"
    models.set_stage(model, 1)


def test_backbone_bn_runs_in_inference_mode(small_models: dict[str, keras.Model]) -> None:
    """The backbone is called with training=False: same output in training and inference
    mode apart from the head's dropout, so a model without dropout must agree exactly."""
    model = models.build_model("resnet50", weights=None, input_size=32,
                               hparams={"dropout1": 0.0, "dropout2": 0.0})
    models.set_stage(model, 2)
    x = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    train_out = keras.ops.convert_to_numpy(model(x, training=True))
    infer_out = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(train_out, infer_out, rtol=1e-5, atol=1e-6)


def test_head_model_shares_weights(small_models: dict[str, keras.Model]) -> None:
    model = small_models["efficientnetb2"]
    head = models.head_model(model)
    feats = models.feature_model(model)
    x = np.random.default_rng(2).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    full = keras.ops.convert_to_numpy(model(x, training=False))
    two_step = keras.ops.convert_to_numpy(head(feats(x, training=False), training=False))
    np.testing.assert_allclose(full, two_step, rtol=1e-5, atol=1e-6)
    assert {id(w) for w in head.weights} <= {id(w) for w in model.weights}


# --------------------------------------------------------------------------- weights

# Keras warns about an internal container of nested models it does not store; every weight is
# still loaded (the outputs below agree).
@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_full_model_weights_file_roundtrip(tmp_path) -> None:
    keras.utils.set_random_seed(3)
    source = models.build_model("vgg16", weights=None, input_size=32)
    path = tmp_path / "vgg.weights.h5"
    source.save_weights(str(path))
    keras.utils.set_random_seed(4)
    fresh = models.build_model("vgg16", weights=str(path), input_size=32)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fresh(x)),
                               keras.ops.convert_to_numpy(source(x)), rtol=1e-5, atol=1e-7)
    with pytest.raises(JewelNetError, match="cannot load weights"):
        models.build_model("vgg16", weights=str(path), input_size=32, num_classes=5)
    with pytest.raises(JewelNetError, match="weights file not found"):
        models.build_model("vgg16", weights=str(tmp_path / "nope.weights.h5"), input_size=32)


def _write_notop_file(backbone: keras.Model, path) -> None:
    """A legacy-format backbone file, the format of Keras's own *_notop.h5 downloads."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, backbone)


def test_backbone_notop_file(tmp_path) -> None:
    keras.utils.set_random_seed(5)
    source = models.build_model("vgg16", weights=None, input_size=32)
    path = tmp_path / models.BACKBONE_WEIGHTS["vgg16"][0]
    _write_notop_file(models.backbone_of(source), path)
    keras.utils.set_random_seed(6)
    loaded = models.build_model("vgg16", weights=str(path), input_size=32)
    for a, b in zip(models.backbone_of(loaded).get_weights(),
                    models.backbone_of(source).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_imagenet_from_keras_cache_without_download(tmp_path, monkeypatch) -> None:
    """A cached notop file in $KERAS_HOME/models is used as is; EfficientNet's ImageNet
    normalisation (Keras's extra 1/sqrt(std) rescaling) is folded into its variance."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not download a cached file")

    monkeypatch.setattr(models, "_download_backbone_weights", no_download)
    source = models.build_model("efficientnetb2", weights=None, input_size=32)
    norm = next(la for la in models.backbone_of(source).layers
                if isinstance(la, keras.layers.Normalization))
    norm.adapt_variance.assign(np.full(norm.adapt_variance.shape, 4.0, dtype="float32"))
    (home / "models").mkdir(parents=True)
    _write_notop_file(models.backbone_of(source), home / "models" / "efficientnetb2_notop.h5")
    loaded = models.build_model("efficientnetb2", weights="imagenet", input_size=32)
    norm2 = next(la for la in models.backbone_of(loaded).layers
                 if isinstance(la, keras.layers.Normalization))
    for values in (norm2.adapt_variance, norm2.variance):  # stored and in use
        np.testing.assert_allclose(keras.ops.convert_to_numpy(values).ravel(),
                                   4.0 * np.array([0.229, 0.224, 0.225]), rtol=1e-6)


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "efficientnetb2"])
def test_offline_imagenet_message(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    calls = []

    def offline(model_name: str, cache_dir: object) -> None:
        calls.append(model_name)
        raise OSError("network is unreachable")

    monkeypatch.setattr(models, "_download_backbone_weights", offline)
    with pytest.raises(JewelNetError) as info:
        models.build_model(name, weights="imagenet", input_size=32)
    message = str(info.value)
    fname = models.BACKBONE_WEIGHTS[name][0]
    assert calls == [name]
    assert "\n" not in message
    for needle in (fname, "~/.keras/models/", "KERAS_HOME", "--weights PATH",
                   "--weights none", "random initialisation", "recorded"):
        assert needle in message
    assert str(tmp_path / "empty" / "models") in message


def test_custom_cnn_ignores_imagenet(monkeypatch) -> None:
    monkeypatch.setattr(models, "_download_backbone_weights", None)  # would fail if called
    assert models.weights_kind("custom_cnn", "imagenet") == "none"
    models.build_model("custom_cnn", weights="imagenet", input_size=48)


def test_model_file_roundtrip_keras(tmp_path, small_models: dict[str, keras.Model]) -> None:
    model = small_models["resnet50"]
    path = tmp_path / "m.keras"
    model.save(path)
    again = models.load_model(path)
    x = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-7)
    assert again.get_layer("embedding").units == 256


# --------------------------------------------------------------------------- accounting

def test_count_params_flops_and_claims() -> None:
    vgg = models.build_model("vgg16", weights=None)  # 224 px, as in Table 6.2
    # VGG16's convolutions at 224 px are 15.35 G multiply-adds; Table 6.2 says about 15.5 B.
    assert models.flops(vgg) == pytest.approx(models.THESIS_CLAIMS["vgg16"]["flops"], rel=0.03)
    counts = models.count_params(vgg)
    assert counts["total"] == vgg.count_params()
    assert counts["total"] == counts["trainable"] + counts["non_trainable"]
    assert set(models.THESIS_CLAIMS) == set(MODELS)
    for claim in models.THESIS_CLAIMS.values():
        assert {"params", "flops", "input_size", "train_time", "inference"} <= set(claim)


# --------------------------------------------------------------------------- augmentation

def _batch(n: int = 6, size: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_augmenter_shape_range_and_identity() -> None:
    aug = augment.build_augmenter(Augmentation(), seed=1)
    x = _batch()
    y = keras.ops.convert_to_numpy(aug(x, training=True))
    assert y.shape == x.shape and y.dtype == np.float32
    assert y.min() >= 0.0 and y.max() <= 255.0
    assert not np.allclose(y, x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)
    other = keras.ops.convert_to_numpy(aug(_batch(3, 40), training=True))  # any size
    assert other.shape == (3, 40, 40, 3)
    names = [layer.name for layer in aug.layers]
    assert names == ["affine", "brightness", "channel_shift"]  # one warp for the geometry
    identity = augment.build_augmenter(Augmentation().scaled(0.0))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(identity(x, training=True)), x)


def test_augmenter_is_reproducible_with_a_seed() -> None:
    x = _batch()
    a = keras.ops.convert_to_numpy(augment.build_augmenter(seed=7)(x, training=True))
    b = keras.ops.convert_to_numpy(augment.build_augmenter(seed=7)(x, training=True))
    np.testing.assert_array_equal(a, b)


def test_augmenter_in_tf_data() -> None:
    import tensorflow as tf

    aug = augment.build_augmenter(seed=2)
    ds = tf.data.Dataset.from_tensor_slices(_batch(8)).batch(4).map(
        lambda b: aug(b, training=True))
    out = np.concatenate([b.numpy() for b in ds])
    assert out.shape == (8, 24, 24, 3)
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_channel_shift_and_brightness_semantics() -> None:
    grey = np.full((16, 8, 8, 3), 128.0, dtype="float32")
    shifted = keras.ops.convert_to_numpy(augment.ChannelShift(0.1, seed=0)(grey, training=True))
    per_channel = shifted.reshape(16, -1, 3)
    assert np.allclose(per_channel, per_channel[:, :1, :])  # one offset per image and channel
    assert np.abs(shifted - 128).max() <= 25.5 + 1e-4
    assert np.ptp(per_channel[:, 0, :], axis=1).max() > 0  # channels shift independently
    white = np.full((4, 8, 8, 3), 250.0, dtype="float32")
    assert keras.ops.convert_to_numpy(augment.ChannelShift(0.5)(white)).max() <= 255.0

    bright = keras.ops.convert_to_numpy(
        augment.RandomBrightnessScale((0.8, 1.2), seed=0)(np.full((32, 4, 4, 3), 100.0,
                                                                  dtype="float32")))
    factors = bright[:, 0, 0, 0] / 100.0
    assert np.allclose(bright, bright[:, :1, :1, :1])  # one multiplicative factor per image
    assert factors.min() >= 0.8 - 1e-6 and factors.max() <= 1.2 + 1e-6
    assert np.ptp(factors) > 0.1


def test_centered_shear_keeps_the_centre() -> None:
    img = np.zeros((1, 21, 21, 3), dtype="float32")
    img[0, 10, :, :] = 255.0  # the middle row is invariant under a shear about the centre
    out = keras.ops.convert_to_numpy(augment.RandomCenteredShear(0.2, seed=3)(img))
    np.testing.assert_allclose(out[0, 10], img[0, 10], atol=1e-3)


THESIS_AFFINE = {"rotation_deg": 20.0, "width_shift": 0.2, "height_shift": 0.2, "shear": 0.15,
                 "zoom": 0.2, "horizontal_flip": True}


@pytest.mark.parametrize("jit_compile", [True, False], ids=["xla", "plain-ops"])
def test_fused_affine_keeps_shape_and_range_and_is_off_at_inference(jit_compile: bool) -> None:
    layer = augment.RandomAffine(**THESIS_AFFINE, jit_compile=jit_compile, seed=4)
    x = _batch(5, 32)
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    assert y.shape == x.shape and y.dtype == np.float32
    assert y.min() >= x.min() - 1e-3 and y.max() <= x.max() + 1e-3  # bilinear, nearest fill
    assert not np.allclose(y, x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    single = keras.ops.convert_to_numpy(layer(x[0], training=True))  # one unbatched image
    assert single.shape == x[0].shape


@pytest.mark.parametrize("jit_compile", [True, False], ids=["xla", "plain-ops"])
@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect"])
def test_fused_affine_with_all_ranges_zero_is_the_identity(jit_compile: bool,
                                                          fill_mode: str) -> None:
    layer = augment.RandomAffine(fill_mode=fill_mode, jit_compile=jit_compile, seed=0)
    x = _batch(3, 17)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, training=True)), x,
                               atol=1e-4)


def test_fused_affine_xla_and_plain_paths_agree() -> None:
    x = _batch(4, 28)
    a, b = (keras.ops.convert_to_numpy(
        augment.RandomAffine(**THESIS_AFFINE, jit_compile=jit, seed=9)(x, training=True))
        for jit in (True, False))
    np.testing.assert_allclose(a, b, atol=0.05)  # same draws; float rounding only


@pytest.mark.parametrize("fill_mode", ["nearest", "constant"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_warp_matches_keras_affine_transform(fill_mode: str, interpolation: str) -> None:
    """Our gather-based warp samples exactly as ``ops.image.affine_transform`` does."""
    x = _batch(6, 30)[:, :, :24]  # not square: height and width must not be swapped
    transforms = augment.RandomAffine(25.0, 0.3, 0.3, 0.3, 0.3, True, seed=1).transforms(
        6, 30, 24)
    ref = keras.ops.image.affine_transform(x, transforms, interpolation=interpolation,
                                           fill_mode=fill_mode)
    own = augment.warp_images(x, transforms, interpolation, fill_mode)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(own),
                               keras.ops.convert_to_numpy(ref), atol=1e-3)


def _matrix(row: np.ndarray) -> np.ndarray:
    return np.array([[row[0], row[1], row[2]], [row[3], row[4], row[5]], [0.0, 0.0, 1.0]])


def test_affine_matrix_is_the_sequence_of_single_transforms() -> None:
    """One matrix = flip, then rotation, shift, shear and zoom applied one after another (the
    old five-layer pipeline; Keras 2's rotation @ shift @ shear @ zoom), about the centre."""
    h, w = 30, 40
    params = {"flip": -1.0, "theta": 0.3, "shift_x": 4.0, "shift_y": -3.0, "shear": 0.15,
              "zoom": 1.2}
    neutral = {"flip": 1.0, "theta": 0.0, "shift_x": 0.0, "shift_y": 0.0, "shear": 0.0,
               "zoom": 1.0}

    def rows(**kw: float) -> np.ndarray:
        args = {k: np.array([v], dtype="float32") for k, v in {**neutral, **kw}.items()}
        return keras.ops.convert_to_numpy(augment.affine_matrices(**args, height=h,
                                                                  width=w))[0]

    # A layer applied after another maps its output pixel into its input, which is the
    # previous layer's output: output -> input maps compose first layer leftmost.
    sequence = (_matrix(rows(flip=params["flip"])) @ _matrix(rows(theta=params["theta"]))
                @ _matrix(rows(shift_x=params["shift_x"], shift_y=params["shift_y"]))
                @ _matrix(rows(shear=params["shear"])) @ _matrix(rows(zoom=params["zoom"])))
    np.testing.assert_allclose(_matrix(rows(**params)), sequence, atol=1e-5)
    centre = np.array([(w - 1) / 2, (h - 1) / 2, 1.0])
    for kw in ({"theta": 0.5}, {"shear": 0.2}, {"zoom": 0.8}, {"flip": -1.0}):
        np.testing.assert_allclose(_matrix(rows(**kw)) @ centre, centre, atol=1e-4)
    shifted = _matrix(rows(shift_x=2.0, shift_y=-1.0)) @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(shifted[:2], [2.0, -1.0], atol=1e-5)


def test_fused_affine_flip_and_shift_move_pixels_as_expected() -> None:
    x = _batch(8, 12)
    flip = augment.RandomAffine(horizontal_flip=True, seed=2)
    y = keras.ops.convert_to_numpy(flip(x, training=True))
    mirrored = np.all(np.isclose(y, x[:, :, ::-1]), axis=(1, 2, 3))
    kept = np.all(np.isclose(y, x), axis=(1, 2, 3))
    assert np.all(mirrored | kept) and mirrored.any() and kept.any()
    img = np.zeros((1, 9, 9, 3), dtype="float32")
    img[0, 4, 4] = 255.0
    rows = augment.affine_matrices(*(np.array([v], "float32") for v in (1, 0, 2, -1, 0, 1)),
                                   height=9, width=9)
    out = keras.ops.convert_to_numpy(augment.warp_images(img, rows, fill_mode="constant"))
    # Output (x, y) reads input (x + 2, y - 1): the bright pixel lands at column 2, row 5.
    assert out[0, 5, 2, 0] == pytest.approx(255.0) and out.sum() == pytest.approx(3 * 255.0)


def test_fused_affine_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="rotation_deg"):
        augment.RandomAffine(rotation_deg=-1)
    with pytest.raises(ValueError, match="fill_mode"):
        augment.RandomAffine(fill_mode="mirror")
    with pytest.raises(ValueError, match="zoom"):
        augment.RandomAffine(zoom=1.5)


def test_custom_layers_serialise() -> None:
    for layer in (augment.ChannelShift(0.2, seed=1), augment.RandomBrightnessScale((0.9, 1.1)),
                  augment.RandomCenteredShear(0.1), models.BackbonePreprocess("vgg16"),
                  augment.RandomAffine(**THESIS_AFFINE, fill_mode="constant", seed=3)):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
