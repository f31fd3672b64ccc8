"""Diagrams drawn from the code: a box per pipeline step and per top-level layer."""

import keras

from jewelnet_utils.report import plots
from jewelnet_utils.run import models


def _texts(fig) -> list[str]:
    """The boxes' labels (arrows are annotations with empty text)."""
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text()]


def _arrows(fig) -> int:
    return sum(1 for ax in fig.axes for t in ax.texts if not t.get_text())


def test_layer_summary_lists_every_layer_and_marks_the_backbone():
    model = models.build_model("vgg16", input_size=32, weights=None)
    rows = models.layer_summary(model)
    names = [name for name, _ in rows]
    top = [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert names == ["Input", *top]
    backbone = dict(rows)["backbone"]
    assert "frozen in stage 1" in backbone and "last 8 of" in backbone
    assert f"{models.backbone_of(model).count_params():,} parameters" in backbone
    assert dict(rows)["predictions"].endswith("output (8,), 2,056 parameters")
    # The custom CNN has no backbone: nothing in it is described as frozen.
    cnn = models.layer_summary(models.build_model("custom_cnn", input_size=64, weights=None))
    assert not any("frozen" in detail for _, detail in cnn)


def test_diagrams_draw_one_box_per_item():
    steps = [(f"step {i}", f"does thing {i}") for i in range(7)]
    fig = plots.pipeline_diagram(steps, per_row=3)
    texts = _texts(fig)
    assert [t.split("\n")[0] for t in texts] == [name for name, _ in steps]
    assert _arrows(fig) == len(steps) - 1  # each step leads to the next, across rows too
    layers = [("Input", "(32, 32, 3)"), ("backbone", "frozen in stage 1"), ("out", "Dense")]
    stack = plots.layer_stack(layers)
    assert [t.split(":")[0] for t in _texts(stack)] == ["Input", "backbone", "out"]
    assert _arrows(stack) == 2


def test_recipe_curves_draw_one_line_per_variant_and_weight_the_chosen_one():
    import pandas as pd

    curves = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 2, "epoch": [1, 2, 3, 1, 2],
                           "figure accuracy (train)": [0.1, 0.2, 0.4, 0.1, 0.1]})
    fig = plots.recipe_curves(curves, highlight="b")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()
             if line.get_label() in ("a", "b")}
    assert len(lines["a"].get_xdata()) == 3 and len(lines["b"].get_xdata()) == 2
    assert lines["b"].get_linewidth() > lines["a"].get_linewidth()
