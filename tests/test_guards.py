"""Guards against artefacts: a model at chance, a model predicting one class, a collapsed
embedding. Their numbers must carry a warning and no claim may be tested on them."""

import numpy as np

from jewelnet_utils.contracts.config import CLASSES
from jewelnet_utils.report import evaluate, recommend


def _labels(n_per_class: int = 25) -> np.ndarray:
    return np.repeat(np.arange(len(CLASSES)), n_per_class)


def test_healthy_model_has_no_warning():
    y_true = _labels()
    y_pred = y_true.copy()
    y_pred[::10] = (y_pred[::10] + 1) % len(CLASSES)  # 90 % right, errors spread out
    assert evaluate.model_warnings(y_true, y_pred, CLASSES) == []


def test_one_class_predictor_is_flagged():
    y_true = _labels()
    y_pred = np.full_like(y_true, CLASSES.index("earring"))
    warnings = evaluate.model_warnings(y_true, y_pred, CLASSES)
    assert any("'earring' for 100%" in w for w in warnings)
    assert any("not above chance" in w for w in warnings)


def test_chance_level_model_is_flagged_even_when_it_spreads_its_answers():
    rng = np.random.default_rng(0)
    y_true = _labels()
    y_pred = rng.integers(0, len(CLASSES), size=len(y_true))
    (warning,) = evaluate.model_warnings(y_true, y_pred, CLASSES)
    assert warning.startswith("accuracy") and "not above chance (12.5%)" in warning


def test_modest_but_real_model_is_not_flagged():
    # 30 % on 200 images is far above 12.5 % (p ~ 1e-10): a weak model, not a broken one.
    y_true = _labels()
    y_pred = (y_true + 1) % len(CLASSES)
    y_pred[: 60] = y_true[: 60]
    y_pred[::8][:10] = y_true[::8][:10]
    assert evaluate.model_warnings(y_true, y_pred, CLASSES) == []


def _embeddings(collapsed: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    labels = _labels(10)
    centres = rng.normal(size=(len(CLASSES), 16))
    emb = centres[labels] + 0.3 * rng.normal(size=(len(labels), 16))
    if collapsed:
        emb = np.ones((len(labels), 16)) + 1e-4 * rng.normal(size=(len(labels), 16))
    return emb.astype(np.float32), labels


def test_collapsed_embedding_is_flagged_and_claims_are_not_tested():
    emb, labels = _embeddings(collapsed=True)
    warning = recommend.embedding_collapse(emb, labels)
    assert warning and warning.startswith("collapsed embedding")
    stats = recommend.similarity_stats(emb, labels)
    # Every cosine is ~1, which would "confirm" intra > 0.92; the claim must not be tested.
    assert all(str(v).startswith("not tested") for v in stats["claim holds"])


def test_spread_embedding_is_not_flagged_and_claims_are_tested():
    emb, labels = _embeddings(collapsed=False)
    assert recommend.embedding_collapse(emb, labels) is None
    stats = recommend.similarity_stats(emb, labels)
    assert all(isinstance(v, bool) for v in stats["claim holds"])
