"""recommend.py: exact and FAISS search agree, IVF recall, persistence, the thesis's claims,
and predict/recommend answering good images while naming bad ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from jewelnet_utils.contracts import artifacts
from jewelnet_utils.contracts.config import JewelNetError
from jewelnet_utils.report import recommend as rc

CLASSES = ["bangle", "ring", "chain"]


def _random_unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(n: int, d: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    labels = rng.integers(0, clusters, n)
    x = centres[labels] + 0.35 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


# --------------------------------------------------------------------------------------------
# index
# --------------------------------------------------------------------------------------------

def test_numpy_and_faiss_flat_agree():
    emb = _random_unit(2000, 32, 0)
    labels = np.arange(2000) % 3
    paths = [f"item{i}.png" for i in range(2000)]
    queries = _random_unit(25, 32, 1)
    exact = rc.EmbeddingIndex(emb, paths, labels, CLASSES, backend="numpy")
    flat = rc.EmbeddingIndex(emb, paths, labels, CLASSES, backend="faiss")
    s_np, i_np = exact.search(queries, 10)
    s_fa, i_fa = flat.search(queries, 10)
    np.testing.assert_array_equal(i_np, i_fa)
    np.testing.assert_allclose(s_np, s_fa, atol=1e-5)
    # scores are the cosine similarities, best first
    np.testing.assert_allclose(s_np[:, 0], (queries @ emb.T).max(axis=1), atol=1e-5)
    assert np.all(np.diff(s_np, axis=1) <= 1e-7)
    hits = exact.query(queries[0], 3)
    assert [h.path for h in hits] == [paths[j] for j in i_np[0, :3]]
    assert hits[0].cls == CLASSES[labels[i_np[0, 0]]]
    assert len(exact.query_batch(queries[:4], 5)) == 4
    assert len(exact.query(queries[0], 5000)) == 2000  # k past N: all items


def test_ivf_recall_is_reasonable():
    emb, labels = _clustered(6000, 32, 40, seed=2)
    queries = emb[:200] + 0.05 * _random_unit(200, 32, 3)
    exact = rc.EmbeddingIndex(emb, [str(i) for i in range(6000)], labels % 3, CLASSES,
                              backend="numpy")
    ivf = rc.EmbeddingIndex(emb, [str(i) for i in range(6000)], labels % 3, CLASSES,
                            backend="faiss-ivf")
    assert ivf.nlist == round(4 * np.sqrt(6000)) and 1 <= ivf.nprobe <= ivf.nlist
    _, truth = exact.search(queries, 10)
    _, approx = ivf.search(queries, 10)
    recall = np.mean([len(set(t) & set(a)) / 10 for t, a in zip(truth, approx, strict=True)])
    assert recall >= 0.9


def test_auto_backend_by_size():
    assert rc.resolve_backend("auto", 1_000) == "numpy"
    assert rc.resolve_backend("auto", 60_000) == "faiss"
    assert rc.resolve_backend("auto", 2_000_000) == "faiss-ivf"
    with pytest.raises(JewelNetError):
        rc.resolve_backend("annoy", 10)


@pytest.mark.parametrize("backend", ["numpy", "faiss", "faiss-ivf"])
def test_index_save_load_round_trip(tmp_path, backend):
    emb = _random_unit(500, 16, 4)
    labels = [CLASSES[i % 3] for i in range(500)]  # class names are accepted too
    index = rc.EmbeddingIndex(emb, [f"{c}/{i}.png" for i, c in enumerate(labels)], labels,
                              CLASSES, backend=backend, root=tmp_path / "cat",
                              meta={"run": "x"})
    index.save(tmp_path / "idx")
    assert (tmp_path / "idx" / "index.faiss").is_file() == (backend != "numpy")
    assert not list((tmp_path / "idx").glob(".*"))  # atomic writes leave no temp files
    back = rc.EmbeddingIndex.load(tmp_path / "idx")
    assert back.backend == backend and back.classes == CLASSES and back.meta == {"run": "x"}
    q = _random_unit(7, 16, 5)
    s1, i1 = index.search(q, 5)
    s2, i2 = back.search(q, 5)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-6)
    assert back.query(q[0], 1)[0].path == str(tmp_path / "cat" / index.paths[i1[0, 0]])
    other = rc.EmbeddingIndex.load(tmp_path / "idx", backend="numpy")  # re-indexed exactly
    assert other.backend == "numpy"
    exact = rc.EmbeddingIndex(emb, index.paths, labels, CLASSES, backend="numpy")
    np.testing.assert_array_equal(other.search(q, 5)[1], exact.search(q, 5)[1])
    with pytest.raises(JewelNetError, match="index.json"):
        rc.EmbeddingIndex.load(tmp_path / "nothing")


def test_index_rejects_mismatched_inputs():
    with pytest.raises(JewelNetError):
        rc.EmbeddingIndex(np.zeros((3, 4)), ["a", "b"], [0, 1, 2], CLASSES)
    index = rc.EmbeddingIndex(_random_unit(3, 4, 0), ["a", "b", "c"], [0, 1, 2], CLASSES)
    with pytest.raises(JewelNetError, match="no model"):
        index.query("some.png")


# --------------------------------------------------------------------------------------------
# the thesis's claims
# --------------------------------------------------------------------------------------------

def test_similarity_stats_by_hand():
    emb = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    stats = rc.similarity_stats(emb, [0, 0, 0, 1, 1])
    intra, inter = stats.loc["intra-class"], stats.loc["inter-class"]
    assert intra["pairs"] == 4 and inter["pairs"] == 6
    assert intra["mean"] == pytest.approx(1.0) and inter["mean"] == pytest.approx(0.0)
    assert intra["frac > 0.92"] == 1.0 and inter["frac < 0.75"] == 1.0
    assert bool(intra["claim holds"]) and bool(inter["claim holds"])
    emb2 = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1]], dtype=np.float32)
    stats2 = rc.similarity_stats(emb2, [0, 0, 1, 1])
    assert stats2.loc["intra-class", "min"] == pytest.approx(0.8)  # fails the 0.92 claim
    assert not bool(stats2.loc["intra-class", "claim holds"])
    assert stats2.loc["inter-class", "max"] == pytest.approx(0.96)
    cent = rc.class_similarity(emb, [0, 0, 0, 1, 1], ["bangle", "ring"])
    assert cent.loc["bangle", "ring"] == pytest.approx(0.0)


def test_retrieval_quality_by_hand():
    # cosines: e0.e1 .8, e0.e2 .6, e0.e3 0, e1.e2 .96, e1.e3 .6, e2.e3 .8; classes 0 0 1 1
    emb = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1]], dtype=np.float32)
    q = rc.retrieval_quality(emb, [0, 0, 1, 1], ["bangle", "ring"], k=2).set_index("class")
    # e0 -> e1 (hit), e2: P 1/2, AP 1; e1 -> e2, e0 (hit): P 1/2, AP 1/2; e2, e3 mirror them
    assert q.loc["bangle", "precision@2"] == pytest.approx(0.5)
    assert q.loc["bangle", "mAP@2"] == pytest.approx(0.75)
    assert q.loc["Overall", "mAP@2"] == pytest.approx(0.75)
    assert q.loc["Macro", "precision@2"] == pytest.approx(0.5)
    assert q.loc["Overall", "queries"] == 4


# --------------------------------------------------------------------------------------------
# predict and recommend on a fabricated run folder
# --------------------------------------------------------------------------------------------

SIZE = 32


def _tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, activation="relu", name="embedding")(x)
    out = keras.layers.Dense(len(CLASSES), activation="softmax", name="predictions")(x)
    return keras.Model(inp, out)


def _png(path: Path, colour: tuple[int, int, int], seed: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.clip(np.array(colour) + rng.normal(0, 20, (48, 48, 3)), 0, 255).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec")
    run = root / "artifacts" / "custom_cnn-smoke-s42"
    run.mkdir(parents=True)
    _tiny_model().save(run / "model.keras")
    artifacts.write_config(run, {
        "model": "custom_cnn", "profile": {"name": "smoke"}, "seed": 42, "weights": "none",
        "data_dir": "data", "data_hash": "0" * 64, "classes": CLASSES, "input_size": SIZE,
        "library_versions": {}, "status": "complete"})
    colours = {"bangle": (200, 40, 40), "ring": (40, 200, 40), "chain": (40, 40, 200)}
    catalog = root / "catalog"
    for c, (cls, colour) in enumerate(colours.items()):
        for i in range(4):
            _png(catalog / cls / f"{i}.png", colour, seed=10 * c + i)
    (catalog / "chain" / "broken.png").write_bytes(b"not an image")
    good = _png(root / "queries" / "q_red.png", (210, 50, 50), seed=7)
    corrupt = root / "queries" / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n garbage")
    return {"root": root, "run": run, "catalog": catalog, "good": good, "corrupt": corrupt,
            "missing": root / "queries" / "missing.png"}


def test_embed_images_l2_normalised(world):
    from jewelnet_utils.report.evaluate import load_run_model

    model, _ = load_run_model(world["run"])
    emb = rc.embed_images(model, [world["good"], np.zeros((40, 40, 3), np.uint8) + 128], SIZE)
    assert emb.shape == (2, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert rc.embedding_model(model).outputs[0].shape[-1] == 16
    with pytest.raises(JewelNetError, match="missing.png"):
        rc.embed_images(model, [world["missing"]], SIZE)


def test_predict_images_mixes_good_and_bad(world):
    paths = [world["good"], world["missing"], world["corrupt"], world["good"]]
    results = rc.predict_images(world["run"], paths)
    assert len(results) == 4
    assert "missing.png" in results[1]["error"] and "corrupt.png" in results[2]["error"]
    for r in (results[0], results[3]):
        assert "error" not in r and r["class"] in CLASSES
        probs = [t["probability"] for t in r["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True)
        assert r["confidence"] == pytest.approx(probs[0])
    assert results[0]["top"] == results[3]["top"]


def test_cli_predict_exit_codes(world, capsys):
    from jewelnet_utils.cli import main

    code = main(["predict", "--run", str(world["run"]), str(world["good"]),
                 str(world["missing"])])
    out = capsys.readouterr()
    assert code == 1
    assert out.out.count("\n") == 1 and str(world["good"]) in out.out
    assert "missing.png" in out.err and out.err.count("\n") == 1
    assert main(["predict", "--run", str(world["run"]), str(world["good"])]) == 0
    assert main(["predict", "--run", str(world["root"] / "nope"), str(world["good"])]) == 2


def test_from_catalog_skips_bad_files_and_finds_itself(world):
    from jewelnet_utils.report.evaluate import load_run_model

    model, _ = load_run_model(world["run"])
    index = rc.EmbeddingIndex.from_catalog(model, world["catalog"], input_size=SIZE)
    assert len(index) == 12 and index.classes == ["bangle", "chain", "ring"]  # thesis order
    assert [p for p, _ in index.skipped] == ["chain/broken.png"]
    target = world["catalog"] / "ring" / "2.png"
    top = index.query(str(target), 1)[0]
    assert top.path == str(target) and top.cls == "ring" and top.score == pytest.approx(1.0,
                                                                                       abs=1e-4)


def test_cli_recommend_good_and_bad_queries_with_gallery_and_cache(world, capsys):
    from jewelnet_utils.cli import main

    gallery = world["root"] / "gallery.png"
    argv = ["recommend", "--run", str(world["run"]), "--catalog", str(world["catalog"]),
            "--query", str(world["good"]), str(world["missing"]), "-k", "3",
            "--gallery", str(gallery)]
    code = main(argv)
    out = capsys.readouterr()
    assert code == 1
    assert "missing.png" in out.err and "broken.png" in out.err
    lines = out.out.splitlines()
    assert lines[0] == f"query: {world['good']}"
    assert len([ln for ln in lines if ln.strip()[:2] in ("1.", "2.", "3.")]) == 3
    # The first hit is the catalog item nearest to the query by a brute-force cosine here.
    from jewelnet_utils.report.evaluate import load_run_model

    model, _ = load_run_model(world["run"])
    items = sorted(p for p in world["catalog"].glob("*/*.png") if p.name != "broken.png")
    emb = rc.embed_images(model, items, SIZE)
    query = rc.embed_images(model, [world["good"]], SIZE)[0]
    nearest = items[int(np.argmax(emb @ query))]
    assert str(nearest) in lines[2] and nearest.parent.name in lines[2]
    # Before the matches, the thesis's flow names the photo's class with its probability,
    # the classifier's own argmax.
    cfg = artifacts.read_config(world["run"]).fields
    probs = model.predict(rc.prepare_image(world["good"], SIZE)[None], verbose=0)[0]
    expected = f"  predicted class: {cfg['classes'][int(np.argmax(probs))]} "
    assert lines[1].startswith(expected) and f"(probability {probs.max():.2f})" in lines[1]
    assert gallery.read_bytes()[:4] == b"\x89PNG"
    cache = world["catalog"] / ".jewelnet-index" / "custom_cnn-smoke-s42" / "index.json"
    assert cache.is_file()
    stamp = os.stat(cache).st_mtime_ns
    assert main(argv[:-2]) == 1  # second run answers from the cache
    assert os.stat(cache).st_mtime_ns == stamp
    assert capsys.readouterr().out.splitlines()[:5] == lines[:5]
    assert main(["recommend", "--run", str(world["run"]), "--catalog",
                 str(world["root"] / "nope"), "--query", str(world["good"])]) == 2
    assert main(["recommend", "--run", str(world["run"]), "--catalog", str(world["catalog"]),
                 "--query", str(world["good"]), "--no-cache", "--backend", "faiss"]) == 0


def test_from_catalog_manifest_split(world, tmp_path):
    from jewelnet_utils.contracts.utils import sha256_file
    from jewelnet_utils.report.evaluate import load_run_model

    files = []
    for i, p in enumerate(sorted(world["catalog"].glob("*/[0-9].png"))):
        rel = p.relative_to(world["catalog"]).as_posix()
        files.append({"path": rel, "class": p.parent.name, "split": "test" if i % 2 else "train",
                      "sha256": sha256_file(p)})
    manifest = tmp_path / "split.json"
    manifest.write_text(json.dumps({"version": 1, "data_dir": str(world["catalog"]), "seed": 0,
                                    "classes": CLASSES, "files": files, "skipped": []}))
    model, _ = load_run_model(world["run"])
    index = rc.EmbeddingIndex.from_catalog(model, manifest, split="train", input_size=SIZE)
    assert len(index) == 6 and index.classes == CLASSES  # the manifest's class order
    assert index.query(index.embeddings[0], 1)[0].path == str(world["catalog"] / files[0]["path"])
    with pytest.raises(JewelNetError, match="no images in split"):
        rc.EmbeddingIndex.from_catalog(model, manifest, split="val", input_size=SIZE)


def test_retrieval_by_model_scores_each_run_on_the_same_catalogue(world, tmp_path):
    from jewelnet_utils.contracts.utils import sha256_file

    files = [{"path": p.relative_to(world["catalog"]).as_posix(), "class": p.parent.name,
              "split": "train", "sha256": sha256_file(p)}
             for p in sorted(world["catalog"].glob("*/[0-9].png"))]
    manifest = tmp_path / "split.json"
    manifest.write_text(json.dumps({"version": 1, "data_dir": str(world["catalog"]), "seed": 0,
                                    "classes": CLASSES, "files": files, "skipped": []}))
    table = rc.retrieval_by_model([world["run"]], manifest, world["catalog"], k=3)
    row = table.iloc[0]
    assert (row["model"], row["weights"], row["catalogue"], row["dimensions"]) == (
        "custom_cnn", "none", 12, 16)
    # The catalogue's classes are three flat colours: any embedding of colour retrieves them.
    embeddings = rc.embed_images(rc.load_run_model(world["run"])[0],
                                 [world["catalog"] / f["path"] for f in files], SIZE)
    labels = [CLASSES.index(f["class"]) for f in files]
    expected = rc.retrieval_quality(embeddings, labels, CLASSES, k=3).iloc[-2]
    assert row["precision@3"] == pytest.approx(expected["precision@3"])
    assert row["mAP@3"] == pytest.approx(expected["mAP@3"])


# --------------------------------------------------------------------------------------------
# the recommend index cache: rebuilt exactly when the catalog or the model changes
# --------------------------------------------------------------------------------------------

@pytest.fixture
def cached(world, tmp_path, monkeypatch):
    """A private copy of the run and catalog, and a counter of catalog embeddings."""
    import shutil

    from jewelnet_utils.report.evaluate import load_run_model

    run = tmp_path / "artifacts" / world["run"].name
    shutil.copytree(world["run"], run)
    catalog = tmp_path / "catalog"
    shutil.copytree(world["catalog"], catalog, ignore=shutil.ignore_patterns(rc.CACHE_DIR))
    builds = []
    original = rc.EmbeddingIndex.from_catalog.__func__

    def counting(cls, *args, **kwargs):
        builds.append(args[1] if len(args) > 1 else kwargs.get("catalog"))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(rc.EmbeddingIndex, "from_catalog", classmethod(counting))

    def index():
        model, cfg = load_run_model(run)
        return rc.cached_index(model, run, catalog, "numpy", True, SIZE)[0], model

    return {"run": run, "catalog": catalog, "builds": builds, "index": index}


def test_cache_is_reused_while_nothing_changes(cached):
    first, _ = cached["index"]()
    second, _ = cached["index"]()
    assert len(cached["builds"]) == 1
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    assert first.paths == second.paths


def test_cache_is_rebuilt_when_the_catalog_changes(cached):
    catalog = cached["catalog"]
    before, model = cached["index"]()
    added = _png(catalog / "ring" / "new.png", (20, 20, 20), seed=99)
    grown, _ = cached["index"]()
    assert len(cached["builds"]) == 2 and len(grown) == len(before) + 1
    assert Path(grown.query(str(added), 1)[0].path).resolve() == added.resolve()

    replaced = _png(catalog / "bangle" / "0.png", (250, 250, 250), seed=5)  # same name
    changed, _ = cached["index"]()
    assert len(cached["builds"]) == 3
    row = [Path(changed.full_path(i)).resolve() for i in range(len(changed))].index(
        replaced.resolve())
    np.testing.assert_allclose(changed.embeddings[row],
                               rc.embed_images(model, [replaced], SIZE)[0], atol=1e-5)

    added.unlink()
    shrunk, _ = cached["index"]()
    assert len(cached["builds"]) == 4 and len(shrunk) == len(before)


def test_cache_is_rebuilt_when_the_model_changes(cached):
    import keras

    before, old_model = cached["index"]()
    other = _tiny_model()
    keras.utils.set_random_seed(1)
    other.set_weights([w + np.random.default_rng(1).normal(0, 0.5, w.shape).astype(w.dtype)
                       for w in other.get_weights()])
    other.save(cached["run"] / "model.keras")
    after, new_model = cached["index"]()
    assert len(cached["builds"]) == 2
    paths = [after.full_path(i) for i in range(len(after))]
    fresh = rc.embed_images(new_model, paths, SIZE)
    np.testing.assert_allclose(after.embeddings, fresh, atol=1e-5)
    assert not np.allclose(after.embeddings, before.embeddings, atol=1e-3)
