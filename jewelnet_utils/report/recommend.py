"""Prediction and content-based recommendation (thesis 5.8): 256-d embeddings, cosine, top-K.

The embedding of an image is the output of the model's Dense(256) layer named ``embedding``,
L2-normalised, so cosine similarity is a dot product. ``EmbeddingIndex`` answers top-K queries
with one of three interchangeable backends:

- ``numpy``: exact, ``argpartition`` over one matrix product; best below ~50k items;
- ``faiss``: exact, FAISS ``IndexFlatIP``; the same answers as ``numpy`` (up to float
  rounding), faster on large catalogs;
- ``faiss-ivf``: approximate, ``IndexIVFFlat`` with nlist = 4 * sqrt(N) cells and ``nprobe``
  of them searched; for catalogs past a million items.

``auto`` picks by catalog size. ``jewelnet recommend`` caches a catalog's embeddings under
``<catalog>/.jewelnet-index/<run name>/`` (the run folder belongs to ``train.py``), keyed by
the model file's hash and the catalog's file list, sizes and times, so a changed model or
catalog rebuilds it; ``--no-cache`` skips the cache, and a read-only catalog just goes
uncached.

``jewelnet predict`` and ``jewelnet recommend`` answer every good image even when some are
bad: each bad image gets one line on stderr, and the exit status is 1 when any image failed
(0 when all succeeded), so scripts notice partial failures. Errors about the run or catalog
themselves still raise ``JewelNetError`` (exit 2).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..contracts import thesis
from ..contracts.config import JewelNetError, class_sort_key, normalise_class_name
from ..contracts.decode import load_image, resize_array, thumbnail
from ..contracts.utils import atomic_write_bytes, atomic_write_json, read_json, sha256_file
from ..split.splitting import load_manifest
from . import plots
from .evaluate import compiled_call, load_run_model

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif",
                              ".tiff"})
BACKENDS = ("auto", "numpy", "faiss", "faiss-ivf")
AUTO_FAISS_MIN = 50_000  # below this exact NumPy is as fast as anything
AUTO_IVF_MIN = 1_000_000  # past this an exact scan per query gets slow
INDEX_VERSION = 1
CACHE_DIR = ".jewelnet-index"
# Thesis 5.8: same-class cosine similarity above the first, different-class below the second.
THESIS_INTRA = thesis.CLAIMS.value("intra_class_similarity")
THESIS_INTER = thesis.CLAIMS.value("inter_class_similarity")


class Hit(NamedTuple):
    """One recommendation: catalog path, its class and the cosine similarity to the query."""

    path: str
    cls: str
    score: float


# --------------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------------

def _memo(model: Any, key: str, build: Any) -> Any:
    """Build once per model object and keep it on the object itself (not in a global table,
    which would keep every model alive): a sub-model or a traced/jitted call is costly to
    redo for every query."""
    store = getattr(model, "__dict__", None)
    if store is not None and key in store:
        return store[key]
    value = build()
    if store is not None:
        store[key] = value  # plain __dict__ entry: invisible to Keras's layer tracking
    return value


def embedding_model(model: Any, layer_name: str = "embedding") -> Any:
    """Sub-model from the classifier's input to its ``embedding`` layer (the 256-d features
    the thesis compares). A model that already ends there is returned as it is."""
    import keras

    try:
        layer = model.get_layer(layer_name)
    except ValueError as err:
        raise JewelNetError(f"model {model.name!r} has no layer named {layer_name!r}") from err
    outputs = model.outputs
    if len(outputs) == 1 and outputs[0] is layer.output:
        return model
    return _memo(model, f"_jewelnet_embedding_{layer_name}",
                 lambda: keras.Model(model.inputs, layer.output, name=f"{model.name}_embedding"))


def _compiled(model: Any) -> Any:
    return _memo(model, "_jewelnet_compiled_call", lambda: compiled_call(model))


def prepare_image(item: Any, input_size: int) -> np.ndarray:
    """A path or an array as the model's input: RGB float32 in [0, 255], input_size square.
    Models preprocess inside the graph, so nothing model-specific happens here."""
    if isinstance(item, (str, Path)):
        img = load_image(item)
    else:
        img = np.asarray(item)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
            raise JewelNetError(f"expected an HxWx3 image array, got shape {img.shape}")
        if img.shape[-1] == 1:
            img = np.repeat(img, 3, axis=-1)
        img = img[..., :3]
        if img.dtype != np.uint8 and img.size and float(np.max(img)) <= 1.0:
            img = img * 255.0  # a [0, 1] float image
    return resize_array(img, (input_size, input_size))


def model_input_size(model: Any, config: dict[str, Any] | None = None) -> int:
    """The run's input size (config first, else the model's static input shape)."""
    size = (config or {}).get("input_size")
    if isinstance(size, (list, tuple)):
        size = size[0]
    if size:
        return int(size)
    shape = model.inputs[0].shape
    if shape[1] is None:
        raise JewelNetError("the model accepts any input size; pass input_size explicitly")
    return int(shape[1])


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def _forward(fn: Any, batch: np.ndarray) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(fn(batch))


def _tolerant_batches(items: Sequence[Any], input_size: int, batch_size: int
                      ) -> Iterator[tuple[list[int], np.ndarray, list[tuple[int, str]]]]:
    """Yield (indices that loaded, their stacked images, (index, error) for those that did not),
    ``batch_size`` items at a time so a large catalog never sits in memory at once."""
    for start in range(0, len(items), batch_size):
        ok, images, errors = [], [], []
        for i in range(start, min(start + batch_size, len(items))):
            try:
                images.append(prepare_image(items[i], input_size))
                ok.append(i)
            except (JewelNetError, OSError, ValueError) as err:
                errors.append((i, str(err)))
        stacked = (np.stack(images).astype(np.float32) if images
                   else np.zeros((0, input_size, input_size, 3), np.float32))
        yield ok, stacked, errors


def _embed_tolerant(model: Any, items: Sequence[Any], input_size: int, batch_size: int = 32
                    ) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    fn = _compiled(embedding_model(model))
    chunks, ok_all, errors_all = [], [], []
    for ok, batch, errors in _tolerant_batches(items, input_size, batch_size):
        errors_all.extend(errors)
        if ok:
            chunks.append(_forward(fn, batch))
            ok_all.extend(ok)
    dim = int(embedding_model(model).outputs[0].shape[-1])
    emb = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return _l2_normalise(emb), ok_all, errors_all


def embed_images(model: Any, paths_or_arrays: Sequence[Any], input_size: int,
                 batch_size: int = 32) -> np.ndarray:
    """L2-normalised float32 embeddings (N x 256) of image paths or arrays; an unreadable
    image is an error naming it (use ``EmbeddingIndex.from_catalog`` to skip such files)."""
    emb, _ok, errors = _embed_tolerant(model, list(paths_or_arrays), input_size, batch_size)
    if errors:
        raise JewelNetError(errors[0][1])
    return emb


class Recommendation(NamedTuple):
    """The thesis's inference flow for one photo (its section 3.2): the predicted class with
    its probability, then the most similar catalogue items."""

    predicted: str
    probability: float
    hits: list[Hit]


def _class_and_embedding(model: Any) -> Any:
    """One compiled forward pass giving both the class probabilities and the embedding."""
    import keras

    def build() -> Any:
        features = embedding_model(model).outputs[0]
        return compiled_call(keras.Model(model.inputs, [model.outputs[0], features]))

    return _memo(model, "_jewelnet_class_and_embedding", build)


def recommend_photo(model: Any, classes: Sequence[str], index: EmbeddingIndex, photo: Any,
                    input_size: int, k: int = 5) -> Recommendation:
    """Classify ``photo`` (a path or an image array) and find its ``k`` nearest catalogue
    items, in one call."""
    import keras

    batch = prepare_image(photo, input_size)[None].astype(np.float32)
    probs, features = (keras.ops.convert_to_numpy(t) for t in _class_and_embedding(model)(batch))
    best = int(np.argmax(probs[0]))
    hits = index.query(_l2_normalise(features)[0], k)
    return Recommendation(str(classes[best]), float(probs[0, best]), hits)


# --------------------------------------------------------------------------------------------
# Catalogs
# --------------------------------------------------------------------------------------------

def catalog_items(folder: str | Path) -> list[tuple[str, str]]:
    """(relative path, class) of every image under ``folder``; the class is the normalised
    name of the first sub-folder ('unlabelled' for files at the top). Hidden folders,
    such as the index cache, are skipped."""
    root = Path(folder)
    if not root.is_dir():
        raise JewelNetError(f"catalog folder not found: {root}")
    items = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            cls = normalise_class_name(rel.parts[0]) if len(rel.parts) > 1 else "unlabelled"
            items.append((rel.as_posix(), cls))
    return items


def _manifest_items(manifest_path: Path, split: str | None,
                    data_dir: str | Path | None) -> tuple[Path, list[tuple[str, str]], list[str]]:
    manifest = load_manifest(manifest_path)  # validates the manifest, naming what is wrong
    if not isinstance(manifest, dict) or "files" not in manifest:
        raise JewelNetError(f"{manifest_path} is not a split manifest (no 'files')")
    root = Path(data_dir or manifest.get("data_dir", "."))
    files = [f for f in manifest["files"] if split is None or f.get("split") == split]
    if split is not None and not files:
        raise JewelNetError(f"{manifest_path} has no images in split {split!r}")
    items = [(f["path"], normalise_class_name(f["class"])) for f in files]
    classes = [str(c) for c in manifest.get("classes", [])]
    return root, items, classes


def catalog_fingerprint(folder: str | Path, items: Sequence[tuple[str, str]]) -> str:
    """Hash of the catalog's file list, sizes and modification times: cheap, and changes
    whenever an image is added, removed or replaced."""
    digest = hashlib.sha256()
    root = Path(folder)
    for rel, cls in items:
        try:
            st = (root / rel).stat()
            digest.update(f"{rel}\t{cls}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{rel}\t{cls}\tmissing\n".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------

def _faiss() -> Any:
    try:
        import faiss
    except ImportError as err:
        raise JewelNetError("the faiss backends need the faiss-cpu package") from err
    return faiss


def _faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, n_items: int) -> str:
    """``auto`` by catalog size: exact NumPy below 50k, exact FAISS below 1M, IVF past it."""
    if backend not in BACKENDS:
        raise JewelNetError(f"unknown index backend {backend!r}; choose one of: "
                            f"{', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if n_items < AUTO_FAISS_MIN or not _faiss_available():
        return "numpy"
    return "faiss" if n_items < AUTO_IVF_MIN else "faiss-ivf"


def _topk_exact(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k per row, best first, ties broken by the lower index (deterministic)."""
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part.sort(axis=1)
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    return np.take_along_axis(scores, idx, axis=1), idx


class EmbeddingIndex:
    """Cosine top-K search over L2-normalised embeddings, with the catalog's paths and classes.

    ``model`` and ``input_size`` (set by ``from_catalog``, or passed) let ``query`` take an image
    path or array as well as a vector.
    """

    def __init__(self, embeddings: np.ndarray, paths: Sequence[str],
                 labels: Sequence[int] | Sequence[str], classes: Sequence[str] | None = None,
                 backend: str = "auto", *, root: str | Path | None = None,
                 nlist: int | None = None, nprobe: int | None = None, model: Any = None,
                 input_size: int | None = None, meta: dict[str, Any] | None = None,
                 faiss_index: Any = None) -> None:
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2:
            raise JewelNetError(f"embeddings must be a matrix, got shape {emb.shape}")
        if not (len(paths) == len(labels) == len(emb)):
            raise JewelNetError(f"{len(emb)} embeddings, {len(paths)} paths and {len(labels)} "
                                "labels: they must match")
        self.embeddings = np.ascontiguousarray(_l2_normalise(emb))
        self.paths = [str(p) for p in paths]
        labels_list = list(labels)
        if labels_list and isinstance(labels_list[0], str):
            classes = list(classes) if classes else sorted(set(labels_list), key=class_sort_key)
            lookup = {c: i for i, c in enumerate(classes)}
            missing = sorted(set(labels_list) - set(lookup))
            if missing:
                raise JewelNetError(f"label {missing[0]!r} is not among the classes")
            labels_list = [lookup[c] for c in labels_list]
        self.labels = np.asarray(labels_list, dtype=np.int64)
        if classes is None:
            top = int(self.labels.max()) + 1 if len(self.labels) else 0
            classes = [str(i) for i in range(top)]
        self.classes = [str(c) for c in classes]
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise JewelNetError("a label index lies outside the classes")
        self.root = Path(root) if root is not None else None
        self.model = model
        self.input_size = input_size
        self.meta = dict(meta or {})
        self.skipped: list[tuple[str, str]] = []
        self.backend = resolve_backend(backend, len(self))
        n = len(self)
        self.nlist = nlist or max(1, min(n, int(round(4 * math.sqrt(max(n, 1))))))
        self.nprobe = nprobe or min(self.nlist, max(8, self.nlist // 16))
        self._index = faiss_index
        if self.backend != "numpy" and self._index is None and n:
            self._index = self._build_faiss()
        if self.backend == "faiss-ivf" and self._index is not None:
            self._index.nprobe = self.nprobe

    def __len__(self) -> int:
        return len(self.embeddings)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def _build_faiss(self) -> Any:
        faiss = _faiss()
        if self.backend == "faiss":
            index = faiss.IndexFlatIP(self.dim)
        else:
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist,
                                       faiss.METRIC_INNER_PRODUCT)
            index.train(self.embeddings)
        index.add(self.embeddings)
        return index

    def full_path(self, i: int) -> str:
        """Path of item ``i`` as it can be opened (root joined for relative catalog paths)."""
        p = self.paths[i]
        return str(self.root / p) if self.root is not None and not Path(p).is_absolute() else p

    # ---- queries -------------------------------------------------------------------------

    def _vectors(self, items: Any) -> np.ndarray:
        if isinstance(items, np.ndarray) and items.ndim == 2 and items.shape[1] == self.dim:
            return _l2_normalise(items)
        vecs: list[np.ndarray | None] = []
        images: list[tuple[int, Any]] = []
        for i, item in enumerate(items):
            arr = None if isinstance(item, (str, Path)) else np.asarray(item)
            if arr is not None and arr.ndim == 1 and arr.shape[0] == self.dim:
                vecs.append(arr.astype(np.float32))
            else:
                vecs.append(None)
                images.append((i, item))
        if images:
            if self.model is None or not self.input_size:
                raise JewelNetError("this index has no model attached: query with embedding "
                                    "vectors, or build it with from_catalog(model, ...)")
            emb = embed_images(self.model, [it for _, it in images], self.input_size)
            for (i, _), v in zip(images, emb, strict=True):
                vecs[i] = v
        return _l2_normalise(np.stack(vecs)) if vecs else np.zeros((0, self.dim), np.float32)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw (scores, indices), each (queries x k), best first; -1 marks a slot the IVF
        search could not fill."""
        q = np.ascontiguousarray(_l2_normalise(np.atleast_2d(vectors)))
        k = min(int(k), len(self))
        if k <= 0 or len(q) == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if self.backend == "numpy" or self._index is None:
            rows = max(1, 20_000_000 // max(len(self), 1))  # bound the score matrix's memory
            parts = [_topk_exact(q[s:s + rows] @ self.embeddings.T, k)
                     for s in range(0, len(q), rows)]
            return (np.concatenate([p[0] for p in parts]).astype(np.float32),
                    np.concatenate([p[1] for p in parts]).astype(np.int64))
        scores, idx = self._index.search(q, k)
        return scores.astype(np.float32), idx.astype(np.int64)

    def query_batch(self, items: Any, k: int = 5) -> list[list[Hit]]:
        """Top-``k`` hits for each query (vectors, image paths or arrays). Hit paths are ready
        to open: the catalog root is already joined."""
        scores, idx = self.search(self._vectors(items), k)
        return [[Hit(self.full_path(j), self.classes[self.labels[j]], float(s))
                 for s, j in zip(srow, irow, strict=True) if j >= 0]
                for srow, irow in zip(scores, idx, strict=True)]

    def query(self, vector_or_image: Any, k: int = 5) -> list[Hit]:
        """Top-``k`` (path, class, cosine) for one embedding vector, image path or array."""
        return self.query_batch([vector_or_image], k)[0]

    # ---- persistence ---------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``embeddings.npz``, ``index.faiss`` (faiss backends) and ``index.json`` (last,
        so a complete JSON means a complete index); every file atomically."""
        d = Path(directory)
        buf = io.BytesIO()
        np.savez_compressed(buf, embeddings=self.embeddings, labels=self.labels)
        atomic_write_bytes(d / "embeddings.npz", buf.getvalue())
        if self._index is not None and self.backend != "numpy":
            faiss = _faiss()
            atomic_write_bytes(d / "index.faiss", faiss.serialize_index(self._index).tobytes())
        atomic_write_json(d / "index.json", {
            "version": INDEX_VERSION, "backend": self.backend, "dim": self.dim,
            "count": len(self), "nlist": self.nlist, "nprobe": self.nprobe,
            "root": str(self.root) if self.root is not None else None,
            "input_size": self.input_size, "classes": self.classes, "paths": self.paths,
            "skipped": [list(s) for s in self.skipped], "meta": self.meta,
        })
        return d

    @classmethod
    def load(cls, directory: str | Path, model: Any = None, backend: str | None = None,
             root: str | Path | None = None) -> EmbeddingIndex:
        """Read an index written by :meth:`save`. ``backend`` rebuilds it another way from the
        stored embeddings; without faiss installed a faiss index is searched exactly in NumPy."""
        d = Path(directory)
        meta_path = d / "index.json"
        if not meta_path.is_file():
            raise JewelNetError(f"not a saved index: {meta_path} is missing")
        meta = read_json(meta_path)
        if meta.get("version") != INDEX_VERSION:
            raise JewelNetError(f"{meta_path} has index version {meta.get('version')!r}; "
                                f"expected {INDEX_VERSION}")
        npz_path = d / "embeddings.npz"
        try:
            with np.load(npz_path) as data:
                emb, labels = data["embeddings"], data["labels"]
        except (OSError, KeyError, ValueError) as err:
            raise JewelNetError(f"cannot read {npz_path}: {err}") from err
        stored = meta.get("backend", "numpy")
        wanted = backend or stored
        if wanted != "numpy" and not _faiss_available():
            wanted = "numpy"
        faiss_index = None
        faiss_path = d / "index.faiss"
        if wanted == stored and stored != "numpy" and faiss_path.is_file():
            faiss = _faiss()
            faiss_index = faiss.deserialize_index(np.fromfile(faiss_path, dtype=np.uint8))
            if faiss_index.ntotal != len(emb):
                raise JewelNetError(f"{faiss_path} holds {faiss_index.ntotal} vectors, "
                                    f"{npz_path} {len(emb)}")
        index = cls(emb, meta["paths"], labels, meta["classes"], backend=wanted,
                    root=root if root is not None else meta.get("root"),
                    nlist=meta.get("nlist"), nprobe=meta.get("nprobe"), model=model,
                    input_size=meta.get("input_size"), meta=meta.get("meta"),
                    faiss_index=faiss_index)
        index.skipped = [tuple(s) for s in meta.get("skipped", [])]
        return index

    @classmethod
    def from_catalog(cls, model: Any, catalog: str | Path, *, split: str | None = None,
                     input_size: int | None = None, backend: str = "auto",
                     batch_size: int = 32, data_dir: str | Path | None = None,
                     nlist: int | None = None, nprobe: int | None = None,
                     meta: dict[str, Any] | None = None) -> EmbeddingIndex:
        """Embed a catalog: a folder with one sub-folder per class, or a split manifest (JSON)
        restricted to ``split``. Unreadable images are skipped and listed in ``.skipped``."""
        src = Path(catalog)
        if src.is_file() and src.suffix.lower() == ".json":
            root, items, classes = _manifest_items(src, split, data_dir)
        elif src.is_dir():
            root, items, classes = src, catalog_items(src), []
        else:
            raise JewelNetError(f"catalog not found: {src} (a folder of images or a manifest)")
        root = root.resolve()  # hits carry openable paths wherever the caller's cwd moves
        size = input_size or model_input_size(model)
        found = sorted({c for _, c in items}, key=class_sort_key)
        classes = classes + [c for c in found if c not in classes]
        emb, ok, errors = _embed_tolerant(model, [str(root / p) for p, _ in items], size,
                                          batch_size)
        lookup = {c: i for i, c in enumerate(classes)}
        index = cls(emb, [items[i][0] for i in ok], [lookup[items[i][1]] for i in ok], classes,
                    backend=backend, root=root, nlist=nlist, nprobe=nprobe, model=model,
                    input_size=size, meta=meta)
        index.skipped = [(items[i][0], msg) for i, msg in errors]
        return index


# --------------------------------------------------------------------------------------------
# The thesis's claims: similarity distributions and retrieval quality
# --------------------------------------------------------------------------------------------

def pairwise_similarities(embeddings: np.ndarray, labels: Sequence[int], max_items: int = 5000,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of every unordered pair, split into (same class, different class). Above
    ``max_items`` a seeded random subset is used to bound memory (N^2 / 2 pairs)."""
    emb = _l2_normalise(embeddings)
    lab = np.asarray(labels)
    if len(emb) > max_items:
        keep = np.sort(np.random.default_rng(seed).choice(len(emb), max_items, replace=False))
        emb, lab = emb[keep], lab[keep]
    intra, inter = [], []
    for start in range(0, len(emb), 512):
        block = emb[start:start + 512] @ emb.T
        rows = np.arange(start, start + len(block))[:, None]
        upper = np.arange(len(emb))[None, :] > rows
        same = lab[start:start + len(block)][:, None] == lab[None, :]
        intra.append(block[upper & same])
        inter.append(block[upper & ~same])
    return (np.concatenate(intra).astype(np.float32) if intra else np.zeros(0, np.float32),
            np.concatenate(inter).astype(np.float32) if inter else np.zeros(0, np.float32))


def _describe(values: np.ndarray, hi: float, lo: float) -> dict[str, Any]:
    if len(values) == 0:
        return {"pairs": 0}
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"pairs": int(len(values)), "mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "q05": float(q[0]), "q25": float(q[1]),
            "median": float(q[2]), "q75": float(q[3]), "q95": float(q[4]),
            "max": float(values.max()), f"frac > {hi}": float(np.mean(values > hi)),
            f"frac < {lo}": float(np.mean(values < lo))}


# An embedding whose pairwise cosines all lie within this spread of each other maps every
# image to (nearly) one direction: similarity then says nothing about the images, so no claim
# about it can be tested. Healthy embeddings here spread over tenths.
COLLAPSE_SPREAD = 0.01


def embedding_collapse(embeddings: np.ndarray, labels: Sequence[int], max_items: int = 5000,
                       seed: int = 0) -> str | None:
    """A one-line warning when the embedding has collapsed, else None."""
    intra, inter = pairwise_similarities(embeddings, labels, max_items, seed)
    values = np.concatenate([intra, inter])
    if len(values) < 2:
        return None
    spread = float(values.max() - values.min())
    if spread < COLLAPSE_SPREAD:
        return (f"collapsed embedding: every pairwise cosine lies in "
                f"[{values.min():.3f}, {values.max():.3f}], so similarity cannot rank items")
    return None


def similarity_stats(embeddings: np.ndarray, labels: Sequence[int],
                     thresholds: tuple[float, float] = (THESIS_INTRA, THESIS_INTER),
                     max_items: int = 5000, seed: int = 0) -> pd.DataFrame:
    """Intra- vs inter-class cosine distributions, testing thesis 5.8's claims that same-class
    similarity always exceeds ``THESIS_INTRA`` and different-class similarity stays below
    ``THESIS_INTER``.
    On a collapsed embedding the claims are not tested ('claim holds' says why)."""
    hi, lo = thresholds
    intra, inter = pairwise_similarities(embeddings, labels, max_items, seed)
    rows = {"intra-class": _describe(intra, hi, lo), "inter-class": _describe(inter, hi, lo)}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df["thesis claim"] = [f"all > {hi}", f"all < {lo}"]
    collapsed = embedding_collapse(embeddings, labels, max_items, seed)
    if collapsed:
        df["claim holds"] = ["not tested: " + collapsed] * 2
    else:
        df["claim holds"] = [bool(len(intra) and intra.min() > hi),
                             bool(len(inter) and inter.max() < lo)]
    df.index.name = "pairs of"
    return df


def class_similarity(embeddings: np.ndarray, labels: Sequence[int],
                     classes: Sequence[str]) -> pd.DataFrame:
    """Cosine between class centroids: which classes the embedding space keeps close
    (bangle/bracelet and chain/necklace are the thesis's suspects)."""
    emb = _l2_normalise(embeddings)
    lab = np.asarray(labels)
    cent = np.zeros((len(classes), emb.shape[1]), np.float32)
    for i in range(len(classes)):
        if np.any(lab == i):
            cent[i] = emb[lab == i].mean(axis=0)
    cent = _l2_normalise(cent)
    return pd.DataFrame(cent @ cent.T, index=list(classes), columns=list(classes))


def retrieval_quality(embeddings: np.ndarray, labels: Sequence[int],
                      classes: Sequence[str] | None = None, k: int = 5) -> pd.DataFrame:
    """Leave-one-out precision@K and mAP@K with 'same class' as relevance: each catalog item
    queries all the others. AP@K divides by min(K, relevant items); a query whose class has no
    other item is left out (nothing relevant exists). Rows per class, then Overall (mean over
    queries) and Macro (mean over classes)."""
    emb = _l2_normalise(embeddings)
    lab = np.asarray(labels, dtype=np.int64)
    n = len(emb)
    if n < 2:
        raise JewelNetError("retrieval quality needs at least two catalog items")
    k = min(int(k), n - 1)
    counts = np.bincount(lab, minlength=int(lab.max()) + 1)
    prec = np.full(n, np.nan)
    ap = np.full(n, np.nan)
    ranks = np.arange(1, k + 1)
    for start in range(0, n, 512):
        block = emb[start:start + 512] @ emb.T
        rows = np.arange(len(block))
        block[rows, start + rows] = -np.inf  # leave the query itself out
        _, idx = _topk_exact(block, k)
        rel = (lab[idx] == lab[start:start + len(block)][:, None]).astype(float)
        n_rel = counts[lab[start:start + len(block)]] - 1
        valid = n_rel > 0
        p_at = np.cumsum(rel, axis=1) / ranks
        ap_block = (p_at * rel).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1)
        prec[start:start + len(block)] = np.where(valid, rel.sum(axis=1) / k, np.nan)
        ap[start:start + len(block)] = np.where(valid, ap_block, np.nan)
    names = list(classes) if classes is not None else [str(i) for i in range(len(counts))]
    out = []
    for i, name in enumerate(names):
        m = (lab == i) & ~np.isnan(prec)
        out.append({"class": name, "queries": int(m.sum()),
                    f"precision@{k}": float(prec[m].mean()) if m.any() else np.nan,
                    f"mAP@{k}": float(ap[m].mean()) if m.any() else np.nan})
    df = pd.DataFrame(out)
    valid = ~np.isnan(prec)
    overall = {"class": "Overall", "queries": int(valid.sum()),
               f"precision@{k}": float(np.nanmean(prec)) if valid.any() else np.nan,
               f"mAP@{k}": float(np.nanmean(ap)) if valid.any() else np.nan}
    has = df[df["queries"] > 0]
    macro = {"class": "Macro", "queries": int(has["queries"].sum()),
             f"precision@{k}": float(has[f"precision@{k}"].mean()) if len(has) else np.nan,
             f"mAP@{k}": float(has[f"mAP@{k}"].mean()) if len(has) else np.nan}
    return pd.concat([df, pd.DataFrame([overall, macro])], ignore_index=True)


def retrieval_by_model(run_dirs: Sequence[str | Path], split_path: str | Path,
                       data_dir: str | Path, k: int = 5) -> pd.DataFrame:
    """Precision@K and mAP@K of each run's embedding layer over the same catalogue (the
    split's training images): which model's embedding makes the best recommender."""
    import keras

    rows = []
    for run_dir in run_dirs:
        model, config = load_run_model(run_dir)
        size = model_input_size(model, config)
        index = EmbeddingIndex.from_catalog(model, split_path, split="train",
                                            data_dir=data_dir, input_size=size)
        quality = retrieval_quality(index.embeddings, index.labels, index.classes, k=k)
        overall = quality.set_index("class").loc["Overall"]
        rows.append({"model": config["model"], "weights": config["weights"],
                     "dimensions": index.dim, "catalogue": len(index),
                     f"precision@{k}": float(overall[f"precision@{k}"]),
                     f"mAP@{k}": float(overall[f"mAP@{k}"]),
                     "warning": embedding_collapse(index.embeddings, index.labels) or ""})
        del model, index
        keras.backend.clear_session()  # four backbones one after another stay in memory else
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------

def predict_images(run_dir: str | Path, paths: Sequence[str | Path], top: int = 3,
                   batch_size: int = 32) -> list[dict[str, Any]]:
    """Class, confidence and top-``top`` classes for each image, in order. A missing or
    unreadable image gets an entry with an ``error`` naming the file; the others are still
    answered."""
    model, cfg = load_run_model(run_dir)
    classes = [str(c) for c in cfg["classes"]]
    size = model_input_size(model, cfg)
    fn = compiled_call(model)
    items = [str(p) for p in paths]
    results: list[dict[str, Any]] = [{} for _ in items]
    for ok, batch, errors in _tolerant_batches(items, size, batch_size):
        for i, msg in errors:
            results[i] = {"path": items[i], "error": msg}
        if not ok:
            continue
        probs = _forward(fn, batch)
        for i, p in zip(ok, probs, strict=True):
            order = np.argsort(-p, kind="stable")[:top]
            results[i] = {"path": items[i], "class": classes[order[0]],
                          "confidence": float(p[order[0]]),
                          "top": [{"class": classes[j], "probability": float(p[j])}
                                  for j in order]}
    return results


# --------------------------------------------------------------------------------------------
# recommend
# --------------------------------------------------------------------------------------------

def cached_index(model: Any, run_dir: Path, catalog: Path, backend: str, use_cache: bool,
                 size: int) -> tuple[EmbeddingIndex, str | None]:
    """The catalog's index from ``<catalog>/.jewelnet-index/<run>/`` when its model and file
    fingerprints still match, else built (and cached with ``use_cache``); with a note when it
    could not be cached (a read-only catalog still answers)."""
    items = catalog_items(catalog)
    model_file = run_dir / "model.keras"
    fingerprint = {"run": run_dir.resolve().name,
                   "model_sha256": sha256_file(model_file) if model_file.is_file() else None,
                   "catalog": catalog_fingerprint(catalog, items), "input_size": size}
    cache = catalog / CACHE_DIR / run_dir.resolve().name
    if use_cache and (cache / "index.json").is_file():
        try:
            index = EmbeddingIndex.load(cache, model=model, root=catalog.resolve())
            if index.meta == fingerprint:
                wanted = resolve_backend(backend, len(index))
                if wanted != index.backend:  # re-index the cached embeddings, no re-embedding
                    rebuilt = EmbeddingIndex(index.embeddings, index.paths, index.labels,
                                             index.classes, backend=wanted, root=index.root,
                                             model=model, input_size=size, meta=fingerprint)
                    rebuilt.skipped = index.skipped
                    return rebuilt, None
                return index, None
        except JewelNetError:
            pass  # a broken cache is rebuilt
    index = EmbeddingIndex.from_catalog(model, catalog, input_size=size, backend=backend,
                                        meta=fingerprint)
    if use_cache:
        try:
            index.save(cache)
        except JewelNetError as err:
            return index, f"index not cached ({err})"
    return index, None


def open_catalog(model: Any, run_dir: str | Path, catalog: str | Path, size: int, *,
                 backend: str = "auto", use_cache: bool = True,
                 split: str | None = None) -> tuple[EmbeddingIndex, list[str]]:
    """The index ``jewelnet recommend --catalog`` searches, with notes for the user: a saved
    index (built with this run), a folder (its cached index, or built), or a split manifest
    (its ``split`` images). Raises :class:`JewelNetError` when it cannot answer a query."""
    run_dir, catalog = Path(run_dir), Path(catalog)
    notes = []
    if (catalog / "index.json").is_file():
        index = EmbeddingIndex.load(catalog, model=model)
        built_by = index.meta.get("run")
        if built_by and built_by != run_dir.resolve().name:
            raise JewelNetError(f"index {catalog} was built with run {built_by!r}, not "
                                f"{run_dir.resolve().name!r}; its embeddings do not compare")
        index.input_size = index.input_size or size
    elif catalog.is_dir():
        index, note = cached_index(model, run_dir, catalog, backend, use_cache, size)
        notes += [note] if note else []
    elif catalog.is_file() and catalog.suffix.lower() == ".json":
        index = EmbeddingIndex.from_catalog(model, catalog, split=split, input_size=size,
                                            backend=backend)
    else:
        raise JewelNetError(f"catalog not found: {catalog}")
    dim = int(embedding_model(model).outputs[0].shape[-1])
    if len(index) and index.dim != dim:
        raise JewelNetError(f"catalog index {catalog} holds {index.dim}-d embeddings; run "
                            f"{run_dir.name} makes {dim}-d ones")
    notes += [f"skipped catalog image {rel}: {msg}" for rel, msg in index.skipped]
    if len(index) == 0:
        raise JewelNetError(f"no readable images in catalog {catalog}")
    return index, notes


def recommendation_gallery(answers: Sequence[tuple[str, Recommendation]],
                           cfg: dict[str, Any], caption_extra: str) -> Any:
    """The gallery figure of answered queries: each photo with its predicted class, then its
    hits (a hit that cannot be read any more is shown blank, so the row keeps its ranks)."""
    queries = [(thumbnail(load_image(q)), f"{Path(q).name}\npredicted {r.predicted} "
                f"({r.probability:.2f})") for q, r in answers]
    rows = []
    for _query, result in answers:
        row = []
        for h in result.hits:
            try:
                row.append((thumbnail(load_image(h.path)), h.cls, h.score))
            except JewelNetError:
                row.append((np.full((8, 8, 3), 255, np.uint8), h.cls, h.score))
        rows.append(row)
    # ``cfg`` is the run's config.json as artifacts.read_config checked it.
    caption = plots.caption_text(cfg["profile"]["name"], Path(cfg["data_dir"]).name,
                                 cfg["weights"], extra=caption_extra)
    return plots.gallery(queries, rows, caption=caption)


