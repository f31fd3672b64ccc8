"""The notebooks' papermill parameters: validation, path resolution and provenance lines.

Every notebook starts with the same parameters cell (``PROFILE``, ``DATA_DIR``, ``WEIGHTS``,
``SEED``, ``ARTIFACTS``) and passes it straight to :func:`check_params`. A bad value stops the
notebook at once with one line that names the parameter, instead of failing deep inside
training. Relative paths are resolved against the repository root, so the notebooks behave the
same whether papermill runs them from ``notebooks/`` or from the root.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .contracts import artifacts
from .contracts.config import (
    MODEL_SPECS,
    MODEL_TITLES,
    MODELS,
    PROFILES,
    JewelNetError,
    Profile,
    check_experiment,
    run_name,
)
from .contracts.utils import atomic_write_bytes
from .images import synth
from .report import comparison, evaluate
from .report.plots import figure_bytes
from .run import pretrain
from .split import splitting

if TYPE_CHECKING:  # train imports Keras; the notebooks' parameter checks must not wait for it
    from .run import train

# Files that mark the top of a checkout of this project.
_ROOT_MARKERS = ("_toc.yml", "pyproject.toml")


class ParameterError(JewelNetError):
    """A notebook parameter has a wrong type or value.

    IPython prints an exception through ``_render_traceback_`` when it has one, so a failing
    notebook shows this single line instead of a stack trace.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"ParameterError: {self}"]


def find_repo_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) that holds
    ``_toc.yml`` and ``pyproject.toml``; the working directory itself when there is none
    (for example on Colab after ``pip install`` without a clone)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in _ROOT_MARKERS):
            return folder
    return here


def _resolve(root: Path, value: str | os.PathLike[str]) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path)


@dataclass
class NotebookParams:
    """Checked parameters plus the folders every notebook derives from them."""

    profile: str
    data_dir: Path | None  # None: the profile's synthetic JewelSynth set
    weights: str | None  # None (random initialisation), "imagenet" or a weights file
    weights_label: str
    seed: int
    root: Path
    artifacts: Path
    reports: Path
    extra: dict[str, Any] = field(default_factory=dict)
    experiment: str = "imbalanced"  # which of the thesis's two experiments (config.EXPERIMENTS)
    _dataset: Path | None = field(default=None, repr=False)

    @property
    def settings(self) -> Profile:
        """The profile's settings (:class:`config.Profile`); ``profile`` is its name."""
        return PROFILES[self.profile]

    @property
    def synthetic(self) -> bool:
        """True when the notebooks use the generated JewelSynth images."""
        return self.data_dir is None

    def for_experiment(self, experiment: str) -> NotebookParams:
        """These parameters for one of the thesis's two experiments. The balanced one has its
        own JewelSynth set, and its splits, runs and reports live in ``balanced/`` sub-folders
        of ARTIFACTS and the reports folder, so the two experiments never mix."""
        if check_experiment(experiment) == self.experiment:
            return self
        if not self.synthetic:
            raise ParameterError(
                f"the {experiment} experiment is a JewelSynth set; with "
                f"DATA_DIR={self.rel(self.data_dir)} only that folder's own experiment runs")
        return dataclasses.replace(self, experiment=experiment, _dataset=None,
                                   artifacts=self.artifacts / experiment,
                                   reports=self.reports / experiment)

    def random_init(self) -> NotebookParams:
        """These parameters with random initialisation in place of the weights: the baseline
        that shows what pre-training buys. Its runs live in ``random-init/`` under ARTIFACTS,
        so they never mix with the pretrained ones."""
        if self.weights is None:
            raise ParameterError("these parameters already start from random initialisation; "
                                 "there is no pretrained run to compare with")
        return dataclasses.replace(self, weights=None,
                                   weights_label="none (random initialisation, the baseline)",
                                   artifacts=self.artifacts / "random-init")

    def pretraining_table(self, models: list[str], retrain: bool = False) -> pd.DataFrame | None:
        """Each model's run from these weights beside the same model from random
        initialisation (trained now when missing), on the same test images
        (``comparison.pretraining_table``); None when these weights are random already."""
        if self.weights is None:
            return None
        baseline = self.random_init()
        pairs = [(evaluate.load_run(self.run_dir(m)),
                  evaluate.load_run(baseline.train(m, retrain=retrain, progress=False)))
                 for m in models]
        return comparison.pretraining_table(evaluate.pretraining_gain(pairs, seed=self.seed))

    def dataset(self) -> Path:
        """The image folder: ``DATA_DIR``, or the profile's synthetic set (generated if missing)."""
        if self._dataset is None:
            if self.data_dir is not None:
                self._dataset = self.data_dir
            else:
                self._dataset = Path(synth.ensure_dataset(
                    self.profile, root=self.root, progress=False, experiment=self.experiment))
        return self._dataset

    def split_path(self) -> Path:
        """Where the split manifest of this dataset and seed lives."""
        return self.artifacts / "splits" / f"{self.dataset().name}-s{self.seed}.json"

    def run_dir(self, model: str) -> Path:
        """The run folder ``train_model`` writes for ``model`` under this profile and seed."""
        return self.artifacts / run_name(model, self.profile, self.seed)

    def open_run(self, model: str, retrain: bool = False,
                 progress: bool = True) -> train.TrainingRun:
        """``train.open_run`` for ``model`` with these parameters (the split is made first
        if missing): a finished run with the same settings comes back complete, an
        interrupted one resumes from its checkpoint, and ``retrain`` starts again from scratch.

        A finished run made with other weights or other data is never reused silently: that
        is a one-line error asking for ``RETRAIN = True``.
        """
        from .run import models, train

        split = self.split_path()
        manifest = splitting.ensure_split(self.dataset(), split, seed=self.seed)
        run = train.open_run(model, self.dataset(), split, self.profile, self.artifacts,
                             seed=self.seed, weights=self.weights, resume=not retrain,
                             overwrite=retrain, progress=progress)
        cfg = artifacts.read_config(run.run_dir)
        # The custom CNN always starts from scratch, whatever the weights (section 4.3).
        wanted = ("none" if models.weights_kind(model, self.weights) == "none"
                  else self.weights)
        if cfg.data_hash != splitting.data_hash(manifest) or (
                cfg.weights not in (wanted, str(Path(wanted).resolve()))):
            raise ParameterError(
                f"{self.rel(run.run_dir)} holds a finished run made with other data or weights "
                f"(weights={cfg.weights!r}); set RETRAIN = True to train again, or use "
                "another ARTIFACTS folder"
            )
        return run

    def train(self, model: str, retrain: bool = False, progress: bool = True) -> Path:
        """All the steps of one run at once (``train.complete_run`` on :meth:`open_run`), for
        pages that train without showing the steps again. Returns the run folder."""
        from .run import train

        return train.complete_run(self.open_run(model, retrain=retrain, progress=progress))

    def tuning_dir(self) -> Path:
        """Parent folder of the KerasTuner projects of this profile."""
        return self.artifacts / "tuning" / self.profile

    def rel(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the repository root when it lies inside it (for printing)."""
        return _display(Path(path), self.root)

    def dataset_label(self) -> str:
        """Short description of the images in use."""
        path = self._dataset or self.data_dir
        if self.synthetic:
            if path is None:
                path = self.root / synth.default_dataset_dir(self.profile, self.experiment)
            return f"synthetic JewelSynth ({_display(path, self.root)})"
        return f"photos in {_display(path, self.root)}"

    def provenance(self, what: str | None = None, **details: Any) -> str:
        """One line naming the profile, dataset and weights behind a table or figure."""
        parts = [
            f"profile={self.profile}",
            f"dataset={self.dataset_label()}",
            f"weights={self.weights_label}",
            f"seed={self.seed}",
        ]
        if self.experiment != "imbalanced":
            parts.insert(2, f"experiment={self.experiment}")
        parts += [f"{key}={value}" for key, value in details.items()]
        head = f"Provenance of {what}: " if what else "Provenance: "
        return head + "; ".join(parts)


def _display(path: Path | None, root: Path) -> str:
    if path is None:
        return "?"
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _check_profile(value: Any) -> str:
    if not isinstance(value, str) or value not in PROFILES:
        raise ParameterError(
            f"PROFILE must be one of {', '.join(PROFILES)}; got {value!r}"
        )
    return value


def _check_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ParameterError(
            f"SEED must be a whole number between 0 and 2**32-1; got {value!r} "
            f"({type(value).__name__})"
        )
    return value


def _check_path_like(name: str, value: Any) -> str | os.PathLike[str]:
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise ParameterError(f"{name} must be a folder path (text); got {value!r}")
    return value


def pretext_label(profile: Profile) -> str:
    """How a provenance line names the profile's own pretrained backbones."""
    source = pretrain.SOURCE_TITLES[profile.pretext.get("source", "jewelsynth")]
    return f"pretext (our backbone, pretrained on {source}, no class labels)"


def _check_weights(value: Any, profile: Profile, root: Path) -> tuple[str | None, str]:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
        return None, "none (random initialisation)"
    if not isinstance(value, (str, os.PathLike)):
        raise ParameterError(
            f"WEIGHTS must be 'profile', 'imagenet', 'pretext', 'none' or a file path; "
            f"got {value!r}"
        )
    text = str(value).strip()
    if text.lower() == "profile":
        default = profile.default_weights
        if default is None:
            return None, f"none (random initialisation; the {profile.name} profile's default)"
        if default == "pretext":
            return default, f"{pretext_label(profile)}, the {profile.name} profile's default"
        return default, f"{default} (the {profile.name} profile's default)"
    if text.lower() == "imagenet":
        return "imagenet", "imagenet"
    if text.lower() == "pretext":
        return "pretext", pretext_label(profile)
    path = _resolve(root, text)
    if not path.is_file():
        raise ParameterError(
            f"WEIGHTS={text!r} is not 'profile', 'imagenet', 'pretext' or 'none', and no file "
            f"exists at {path}"
        )
    return str(path), f"file {path.name}"


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """A text parameter that must be one of ``choices``; a clear one-line error otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, choices))}; "
                             f"got {value!r} ({type(value).__name__})")
    return value


def check_params(
    *,
    PROFILE: Any,
    DATA_DIR: Any,
    WEIGHTS: Any,
    SEED: Any,
    ARTIFACTS: Any,
    root: str | os.PathLike[str] | None = None,
    **extra: Any,
) -> NotebookParams:
    """Validate the notebook parameters and derive the folders the notebook uses.

    Raises :class:`ParameterError` (one line, naming the parameter) on a wrong type or value.
    Extra keyword arguments are kept, unchecked, in ``.extra``.
    """
    base = find_repo_root(root)
    profile = _check_profile(PROFILE)
    seed = _check_seed(SEED)
    artifacts = _resolve(base, _check_path_like("ARTIFACTS", ARTIFACTS))

    data_dir: Path | None = None
    if DATA_DIR is not None and not (isinstance(DATA_DIR, str) and not DATA_DIR.strip()):
        data_dir = _resolve(base, _check_path_like("DATA_DIR", DATA_DIR))
        if not data_dir.is_dir():
            raise ParameterError(
                f"DATA_DIR={str(DATA_DIR)!r} is not a folder (looked for {data_dir}); "
                "give a folder with one sub-folder of photos per class, or None for the "
                "synthetic set"
            )

    weights, label = _check_weights(WEIGHTS, PROFILES[profile], base)

    # Reports sit beside the default artifacts folder (reports/<profile>/), or inside a
    # custom ARTIFACTS folder, so that runs on real photos never overwrite the synthetic ones.
    if artifacts.resolve() == (base / "artifacts").resolve():
        reports = base / "reports" / profile
    else:
        reports = artifacts / "reports" / profile

    return NotebookParams(
        profile=profile,
        data_dir=data_dir,
        weights=weights,
        weights_label=label,
        seed=seed,
        root=base,
        artifacts=artifacts,
        reports=reports,
        extra=dict(extra),
    )


def model_title(model: str) -> str:
    """Display name of a model key (``efficientnetb2`` -> ``EfficientNetB2``)."""
    return MODEL_TITLES.get(model, model)


# --------------------------------------------------------------------------------------------
# Display helpers shared by the notebooks (rendering only; every figure comes from plots.py or
# from a PNG written by another module).
# --------------------------------------------------------------------------------------------


def _figure_image(fig: Any) -> Any:
    from IPython.display import Image

    return Image(data=figure_bytes(fig, dpi=110))


def show_figure(fig: Any, save_to: str | os.PathLike[str] | None = None) -> None:
    """Display a Matplotlib figure as an embedded PNG (optionally saving it too).

    The PNG is embedded in the notebook, so the executed notebook and the book page show it
    without any Matplotlib backend configuration.
    """
    from IPython.display import display

    image = _figure_image(fig)
    if save_to is not None:
        atomic_write_bytes(save_to, image.data)
    display(image)


def show_source(function: Any) -> None:
    """Show a package function's own source on the page, highlighted by the book (the code lives
    once, in the package; the page renders it from there)."""
    from IPython.display import Markdown, display

    display(Markdown(f"```python\n{inspect.getsource(function)}```"))


def show_table(table: Any) -> None:
    """Display a DataFrame with every cell's text in full (pandas cuts cells at 50 characters)."""
    import pandas as pd
    from IPython.display import display

    with pd.option_context("display.max_colwidth", None):
        display(table)


def glue(name: str, value: Any, display: bool = True) -> None:
    """Store ``value`` under ``name`` for the book's chapters (myst-nb's glue) and show it.

    myst-nb is part of the book build, not of the package, so on a hosted runtime without it
    the value is only shown.
    """
    from matplotlib.figure import Figure

    if isinstance(value, Figure):  # glue needs a display object: the figure as a PNG image
        value = _figure_image(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)


def show_warnings(warnings: dict[str, str], consequence: str) -> None:
    """Show each non-empty warning as a visible note on the page, naming its subject.

    ``consequence`` tells the reader what follows for the numbers, for example that a model's
    calibration is not reported.
    """
    from IPython.display import Markdown, display

    for subject, text in warnings.items():
        if text:
            display(Markdown(f"> **Warning: {subject}.** {text[0].upper()}{text[1:]}. "
                             f"{consequence}"))


def show_image(path: str | os.PathLike[str], width: int | None = None) -> None:
    """Display a PNG file written by another module (for example an evaluation figure)."""
    from IPython.display import Image, display

    path = Path(path)
    if not path.is_file():
        raise JewelNetError(f"figure not found: {path}")
    display(Image(data=path.read_bytes(), width=width))


def _per_model(values: dict[str, Any] | Any) -> dict[str, Any]:
    return values if isinstance(values, dict) else dict.fromkeys(MODELS, values)


def _two_stage_only(value: Any) -> dict[str, Any]:
    """``value`` for the transfer models, a dash for the custom CNN's single stage."""
    return {m: value if MODEL_SPECS[m].two_stage else "—" for m in MODELS}


def _architecture_rows(prof: Profile) -> dict[str, Any]:
    specs = MODEL_SPECS
    return {
        "input size (px)": {m: f"{prof.input_size(m)}×{prof.input_size(m)}" for m in MODELS},
        "training stages": {m: "2 (head, then fine-tuning)" if specs[m].two_stage
                            else "1 (from scratch)" for m in MODELS},
        "dense units (FC1, FC2)": {m: ", ".join(map(str, specs[m].dense_units)) for m in MODELS},
        "dropout (FC1, FC2)": {m: ", ".join(map(str, specs[m].dropout)) for m in MODELS},
        "L2 regularisation": {m: specs[m].l2 or "—" for m in MODELS},
        "backbone layers fine-tuned in stage 2": {m: prof.trainable_tail(m) or "—"
                                                  for m in MODELS},
    }


def _training_rows(prof: Profile) -> dict[str, Any]:
    return {
        "learning rate": prof.learning_rate,
        "learning-rate decay per update": prof.lr_decay,
        "fine-tuning learning rate (stage 2)": _two_stage_only(prof.fine_tune_lr),
        "batch size": prof.batch_size,
        "epochs": {m: f"{prof.stage1_epochs} + {prof.stage2_epochs_for(m)}"
                   if MODEL_SPECS[m].two_stage else str(prof.max_epochs) for m in MODELS},
        "early-stopping patience (val. accuracy)": prof.early_stop_patience,
        "LR reduction (patience, factor)": f"{prof.reduce_lr_patience}, {prof.reduce_lr_factor}",
        "training images per class (cap)": prof.max_train_per_class or "all",
        "augmented passes over the training split per epoch": prof.epoch_repeats,
        "cached augmented views per image (stage 1)": _two_stage_only(
            prof.feature_cache_views or "none (fresh augmentation)"),
        "default weights": {m: "none (from scratch)" if m == "custom_cnn"
                            else (prof.default_weights or "none") for m in MODELS},
    }


def _data_rows(prof: Profile) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for f in dataclasses.fields(prof.augmentation):
        value = getattr(prof.augmentation, f.name)
        rows[f"augmentation: {f.name.replace('_', ' ')}"] = (
            " to ".join(map(str, value)) if isinstance(value, tuple) else value)
    rows["seeds"] = ", ".join(map(str, prof.seeds))
    rows["JewelSynth counts (imbalanced / balanced experiment)"] = (
        f"{prof.synth_counts} / {prof.balanced_counts}")
    rows["JewelSynth image side / difficulty"] = f"{prof.synth_size} px / {prof.synth_difficulty}"
    rows["KerasTuner"] = ", ".join(f"{k}={v}" for k, v in prof.tuner.items()) or "—"
    return rows


def hyperparameter_table(profile: str, which: str = "all") -> pd.DataFrame:
    """Table B.1 generated from ``config``: one row per setting, one column per model.

    Model-specific settings come from ``MODEL_SPECS`` and the profile's input sizes; shared
    settings from the :class:`config.Profile` fields; augmentation from its ``Augmentation``.
    ``which``: "all" (the B.1 shape), "per-model" (rows that differ between models) or
    "shared" (rows equal for all models, as a single ``value`` column).
    """
    prof = PROFILES[profile]
    rows = {**_architecture_rows(prof), **_training_rows(prof), **_data_rows(prof)}
    table = pd.DataFrame.from_dict({k: _per_model(v) for k, v in rows.items()},
                                   orient="index").astype(str)
    table.columns = [MODEL_TITLES[m] for m in table.columns]
    table.index.name = "setting"
    if which == "all":
        return table
    same = table.nunique(axis=1) == 1
    if which == "shared":
        return table.loc[same].iloc[:, :1].set_axis(["value"], axis=1)
    if which == "per-model":
        return table.loc[~same]
    raise ValueError(f"which must be 'all', 'per-model' or 'shared', not {which!r}")
