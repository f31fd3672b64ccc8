"""jewelnet pretrain: cache key, atomic backbone files, resume, and the weights sources a run
records (pretext, and ImageNet from Keras's cache without a download)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from jewelnet_utils import cli
from jewelnet_utils.contracts.config import PROFILES, JewelNetError
from jewelnet_utils.images import synth
from jewelnet_utils.run import models, pretrain, train
from jewelnet_utils.split import splitting

# Smallest recipe that exercises every head: 16 images of 64 px rendered, 32 px inputs.
TINY_PRETEXT = {"images": 16, "epochs": 2, "batch_size": 8, "mask_grid": 8, "head_units": 8,
                "val_fraction": 0.25}
TINY = dataclasses.replace(
    PROFILES["smoke"], name="tiny", input_sizes={"custom_cnn": 48, "vgg16": 32, "resnet50": 32,
                                                 "efficientnetb2": 32},
    batch_size=8, max_epochs=1, stage1_epochs=1, stage2_epochs=1, feature_cache_views=1,
    max_train_per_class=None, synth_size=64, pretext=TINY_PRETEXT,
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("JEWELNET_CACHE", str(root))
    return root


@pytest.fixture
def tiny_data(tmp_path: Path) -> tuple[Path, Path]:
    """Two classes x 8 images and a split manifest."""
    data_dir = tmp_path / "data"
    rng = np.random.default_rng(3)
    for label, cls in enumerate(("ring", "chain")):
        (data_dir / cls).mkdir(parents=True)
        for i in range(8):
            pixels = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            pixels[..., label] = 255  # one channel names the class
            Image.fromarray(pixels).resize((48, 48)).save(data_dir / cls / f"{i:02d}.png")
    split = tmp_path / "split.json"
    splitting.save_manifest(splitting.make_split(data_dir, seed=42), split)
    return data_dir, split


def test_cache_key_follows_recipe_and_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = pretrain.recipe_for("vgg16", TINY)
    key = recipe.key()
    assert recipe.key() == key  # stable
    for change in ({"epochs": 3}, {"learning_rate": 2e-4}, {"data_seed": 2}, {"input_size": 48},
                   {"model": "resnet50"}):
        assert dataclasses.replace(recipe, **change).key() != key, change
    monkeypatch.setattr(synth, "VERSION", synth.VERSION + ".x")
    assert recipe.key() != key
    assert recipe.key() in pretrain.backbone_path(recipe).name


def test_recipe_comes_from_the_profile() -> None:
    recipe = pretrain.recipe_for("vgg16", TINY)
    assert (recipe.images, recipe.epochs, recipe.input_size) == (16, 2, 32)
    with pytest.raises(JewelNetError, match="trained from scratch"):
        pretrain.recipe_for("custom_cnn", TINY)


def test_quarter_turns_move_the_mask_with_the_image() -> None:
    recipe = pretrain.Recipe(model="vgg16", input_size=8, mask_grid=8)
    rng = np.random.default_rng(0)
    pattern = (rng.random((40, 8, 8)) > 0.5).astype(np.float32)
    images = np.repeat(pattern[..., None], 3, axis=-1)
    targets = {"metal": np.eye(4, dtype=np.float32)[rng.integers(0, 4, 40)],
               "mask": pattern.reshape(40, -1).copy()}
    x, y = pretrain.batch_for(images, targets, np.arange(40), recipe, rng)
    assert set(y["quarter"].argmax(1)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(x[..., 0].reshape(40, -1), y["mask"])
    turned = y["quarter"].argmax(1) > 0
    assert not np.array_equal(x[turned], images[turned])  # the turns happened
    np.testing.assert_array_equal(images[..., 0], pattern)  # the source arrays are untouched
    with pytest.raises(JewelNetError, match="quarter"):
        pretrain.Recipe(model="vgg16", input_size=8, heads=("quarter", "light"))


def test_missing_backbone_is_one_clear_line(cache: Path, tiny_data, capsys) -> None:
    data_dir, split = tiny_data
    code = cli.main(["train", "--model", "vgg16", "--data", str(data_dir), "--split", str(split),
                     "--profile", "smoke", "--weights", "pretext", "--out",
                     str(cache.parent / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "jewelnet pretrain --model vgg16 --profile smoke" in err


def test_partial_backbone_is_never_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = pretrain.recipe_for("vgg16", TINY)
    target = pretrain.backbone_path(recipe)
    target.parent.mkdir(parents=True)
    # A temp file left by a killed writer sits beside the target under another name.
    (target.parent / f".tmp-99-{target.name}").write_bytes(b"half a file")
    with pytest.raises(JewelNetError, match="jewelnet pretrain"):
        pretrain.resolve_backbone("vgg16", TINY)

    model = pretrain.build_pretext_model(recipe)

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pretrain.os, "replace", crash)
    with pytest.raises(OSError):
        pretrain._write_backbone(model, target)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir() if p.is_file()] == [f".tmp-99-{target.name}"]


@pytest.mark.slow
def test_pretrain_resume_and_train_records_source(cache: Path, tiny_data,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = pretrain.recipe_for("vgg16", TINY)
    real_fit = keras.Model.fit
    calls = {"n": 0}

    def fit_then_die(self, *args, **kwargs):  # the second epoch is interrupted
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain.pretrain(recipe, progress=False, workers=1)
    assert not pretrain.backbone_path(recipe).exists()
    assert json.loads((pretrain.work_dir(recipe) / "state.json").read_text()) == {
        "epochs_done": 1}
    monkeypatch.setattr(keras.Model, "fit", real_fit)

    record = pretrain.pretrain(recipe, progress=False, workers=1)
    path = pretrain.backbone_path(recipe)
    assert record["resumed_from_epoch"] == 1 and len(record["history"]) == 1
    assert path.is_file() and not pretrain.work_dir(recipe).exists()
    scores = record["source_task"]
    assert scores["n"] == 4 and 0 <= scores["metal_accuracy"] <= 1
    assert pretrain.pretrain(recipe, progress=False)["reused"] is True

    data_dir, split = tiny_data
    run = train.train_model("vgg16", data_dir, split, profile=TINY, out_dir=cache.parent / "r",
                            weights="pretext", progress=False)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["weights"] == "pretext"
    assert cfg["weights_file"] == str(path.resolve())
    assert cfg["weights_recipe"] == recipe.key()
    # The backbone the run started from is the pretext one (stage 1 leaves it frozen, and
    # TINY's stage 2 tail is the last 8 layers: compare the first conv block).
    built = models.build_model("vgg16", num_classes=2, input_size=32, weights=str(path))
    with h5py.File(path) as handle:
        assert len(handle.keys()) > 0
    first = models.backbone_of(built).get_layer("block1_conv1").get_weights()[0]
    fresh = models.build_model("vgg16", num_classes=2, input_size=32, weights=None)
    assert not np.allclose(first, models.backbone_of(fresh).get_layer(
        "block1_conv1").get_weights()[0])
    trained = keras.models.load_model(run / "model.keras", custom_objects=models.CUSTOM_OBJECTS)
    np.testing.assert_array_equal(
        models.backbone_of(trained).get_layer("block1_conv1").get_weights()[0], first)


@pytest.mark.slow
def test_imagenet_from_keras_home_without_download(tmp_path: Path, tiny_data,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`--weights imagenet` loads the file at Keras's cache path and never calls get_file."""
    from keras.src.legacy.saving import legacy_h5_format

    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    keras.utils.set_random_seed(11)
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    (home / "models").mkdir(parents=True)
    with h5py.File(home / "models" / models.BACKBONE_WEIGHTS["vgg16"][0], "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, source)

    data_dir, split = tiny_data
    code = cli.main(["train", "--model", "vgg16", "--data", str(data_dir), "--split", str(split),
                     "--profile", "smoke", "--weights", "imagenet", "--out", str(tmp_path / "r")])
    assert code == 0
    run = tmp_path / "r" / "vgg16-smoke-s42"
    assert json.loads((run / "config.json").read_text())["weights"] == "imagenet"
    trained = keras.models.load_model(run / "model.keras", custom_objects=models.CUSTOM_OBJECTS)
    np.testing.assert_array_equal(  # block 1 is frozen in both stages: still Keras's file
        models.backbone_of(trained).get_layer("block1_conv1").get_weights()[0],
        source.get_layer("block1_conv1").get_weights()[0])


def test_effnet_pretext_file_keeps_its_own_normalisation(cache: Path) -> None:
    """Our EfficientNet backbones are trained without ImageNet's std, so loading one must not
    fold that std in (the Keras ImageNet file needs it, ours would be distorted by it)."""
    recipe = pretrain.recipe_for("efficientnetb2", TINY)
    source = pretrain.build_pretext_model(recipe)
    norm = next(la for la in source.get_layer("backbone").layers
                if isinstance(la, keras.layers.Normalization))
    norm.adapt_variance.assign(np.full(norm.adapt_variance.shape, 4.0, dtype="float32"))
    target = pretrain.backbone_path(recipe)
    pretrain._write_backbone(source, target)
    assert models.weights_kind("efficientnetb2", str(target)) == "pretext_file"
    loaded = models.build_model("efficientnetb2", weights=str(target), input_size=48)
    norm2 = next(la for la in models.backbone_of(loaded).layers
                 if isinstance(la, keras.layers.Normalization))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm2.adapt_variance).ravel(), 4.0)


def test_auto_builds_only_what_the_default_weights_need() -> None:
    assert pretrain.backbones_needed(PROFILES["smoke"]) == ()  # smoke trains from random init
    assert pretrain.backbones_needed(PROFILES["paper"]) == ()  # paper reads ImageNet's files
    assert pretrain.backbones_needed(PROFILES["cpu"]) == pretrain.BACKBONES


def test_shapes_source_targets_are_its_own_labels_never_a_jewelry_class() -> None:
    recipe = pretrain.Recipe(model="vgg16", input_size=32, source="shapes", images=34,
                             heads=("shape", "texture", "metal"), render_size=64, mask_grid=8)
    images, targets = pretrain.render_source(recipe, workers=1, progress=False)
    assert images.shape == (34, 32, 32, 3)
    shapes = targets["shape"].argmax(1)
    # Round robin over the figures: every shape twice, in order.
    assert list(shapes) == [i % len(synth.SHAPE_NAMES) for i in range(34)]
    assert targets["texture"].shape == (34, len(synth.TEXTURES))
    assert np.allclose(targets["texture"].sum(1), 1)
    # The solid figures are solid and the stone figures are stones: the texture is the drawing's.
    texture = [synth.TEXTURES[t] for t in targets["texture"].argmax(1)]
    assert texture[synth.SHAPE_NAMES.index("gear")] == "solid"
    assert texture[synth.SHAPE_NAMES.index("grid")] == "stones"
    assert not set(synth.SHAPE_NAMES) & set(synth.CLASS_SCALE)  # no shape is a jewelry class


def test_shape_images_depend_only_on_seed_shape_and_index() -> None:
    a = synth.render_shape_sample("star", 3, 5, 64)
    b = synth.render_shape_sample("star", 3, 5, 64)
    c = synth.render_shape_sample("star", 3, 6, 64)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))
    assert a.meta["class"] == "star" and a.meta["texture"] in synth.TEXTURES
    with pytest.raises(JewelNetError, match="unknown shape"):
        synth.render_shape_sample("ring", 3, 5, 64)


def test_recipe_refuses_heads_its_source_cannot_answer() -> None:
    with pytest.raises(JewelNetError, match="shapes source"):
        pretrain.Recipe(model="vgg16", input_size=32, heads=("shape",))
    with pytest.raises(JewelNetError, match="quarter"):
        pretrain.Recipe(model="vgg16", input_size=32, source="shapes", heads=("quarter",))
    with pytest.raises(JewelNetError, match="source must be one of"):
        pretrain.Recipe(model="vgg16", input_size=32, source="fractals")
    shapes = pretrain.Recipe(model="vgg16", input_size=32, source="shapes", heads=("shape",))
    assert shapes.key() != dataclasses.replace(shapes, source="jewelsynth", heads=("metal",)).key()


def test_per_model_overrides_apply_to_their_backbone_only() -> None:
    profile = dataclasses.replace(TINY, pretext={**TINY_PRETEXT, "per_model": {
        "resnet50": {"learning_rate": 1e-3, "input_size": 48}}})
    vgg, resnet = (pretrain.recipe_for(m, profile) for m in ("vgg16", "resnet50"))
    assert (vgg.learning_rate, vgg.input_size) == (1e-4, 32)
    assert (resnet.learning_rate, resnet.input_size, resnet.images) == (1e-3, 48, 16)


def _block_drop_rates(model: keras.Model) -> list[float]:
    backbone = model.get_layer("backbone")
    return [layer.rate for layer in backbone.layers
            if isinstance(layer, keras.layers.Dropout) and layer.name.endswith("_drop")]


def test_effnet_recipe_can_pretrain_without_stochastic_depth() -> None:
    recipe = pretrain.Recipe(model="efficientnetb2", input_size=32, source="shapes",
                             heads=("shape",), head_units=8)
    kept = _block_drop_rates(pretrain.build_pretext_model(recipe))
    assert kept and all(rate > 0 for rate in kept)  # Keras's default: blocks are dropped
    off = dataclasses.replace(recipe, stochastic_depth=False)
    rates = _block_drop_rates(pretrain.build_pretext_model(off))
    assert len(rates) == len(kept) and all(rate == 0 for rate in rates)
    assert off.key() != recipe.key()
    # The field hashes only when switched off, so the recipes cached before it keep their keys.
    blob = {"recipe": {k: v for k, v in dataclasses.asdict(recipe).items()
                       if k != "stochastic_depth"},
            "generator": synth.VERSION, "format": pretrain.FORMAT_VERSION}
    assert recipe.key() == pretrain.hashlib.sha256(
        json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]
    with pytest.raises(JewelNetError, match="vgg16 has no stochastic depth"):
        pretrain.Recipe(model="vgg16", input_size=32, stochastic_depth=False)


@pytest.mark.parametrize("pretrained_with", [True, False, None])
def test_classifier_skips_blocks_only_if_its_backbone_learned_to(cache: Path,
                                                                 pretrained_with) -> None:
    recipe = pretrain.Recipe(model="efficientnetb2", input_size=32, source="shapes",
                             heads=("shape",), head_units=8,
                             stochastic_depth=pretrained_with is not False)
    target = pretrain.backbone_path(recipe)
    pretrain._write_backbone(pretrain.build_pretext_model(recipe), target)
    if pretrained_with is not None:  # None: a backbone file without its record
        pretrain.record_path_of(target).write_text(json.dumps(
            {"recipe": dataclasses.asdict(recipe)}))
    classifier = models.build_model("efficientnetb2", weights=str(target), input_size=32)
    rates = _block_drop_rates(classifier)
    assert rates and all((rate > 0) == (pretrained_with is not False) for rate in rates)
