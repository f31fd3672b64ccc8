"""``jewelnet preflight``: fail before the hours, not after them.

``make notebooks`` (and so ``make book``) runs this before any notebook. It checks the two
things that would otherwise stop a long build late:

* every ImageNet weights file the profile needs is in Keras's cache ($KERAS_HOME/models) or
  can be downloaded now; if not, it stops with the same one-paragraph message training would
  print (``models.imagenet_weights_file``);
* a profile meant for an accelerator finds one. Without one it prints an estimate of the run
  time on this CPU, worked out from the per-image cost measured by ``jewelnet bench``
  (``results/bench-*.json``), and goes on only with ``PAPER_ON_CPU=1``.

Profiles that need neither (``smoke``, ``cpu``) pass in one line without importing Keras.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..contracts.config import CLASSES, MODEL_SPECS, MODELS, JewelNetError, Profile
from ..contracts.thesis import TABLE_4_1

OVERRIDE_ENV = "PAPER_ON_CPU"
RESULTS_DIR = Path("results")
# A frozen layer costs its forward pass only, about a third of a training step (forward plus
# the two backward products), so images through a frozen backbone count a third.
FROZEN_SHARE = 1 / 3


def needed_weights(profile: Profile, weights: str | None = None) -> list[str]:
    """Models whose ImageNet weights the build needs (the custom CNN never): ``weights`` as
    ``make book WEIGHTS=...`` gives it, else the profile's default."""
    chosen = profile.default_weights if weights in (None, "", "profile") else weights
    if (chosen or "").lower() != "imagenet":
        return []
    return [m for m in MODELS if MODEL_SPECS[m].two_stage]


def check_weights(profile: Profile, weights: str | None = None) -> list[Path]:
    """The cached (or freshly downloaded) weights file of every model that needs one; the
    first missing file stops everything with training's own message, naming the others."""
    from ..run import models

    found: list[Path] = []
    missing: list[tuple[str, JewelNetError]] = []
    for name in needed_weights(profile, weights):
        try:
            found.append(models.imagenet_weights_file(name))
        except JewelNetError as err:
            missing.append((name, err))
    if missing:
        first = missing[0][1]
        others = [name for name, _ in missing[1:]]
        tail = f" The weights of {', '.join(others)} are missing too." if others else ""
        raise JewelNetError(f"{first}{tail}")
    return found


def accelerator() -> str | None:
    """A description of the GPU/TPU Keras will use, or None when it runs on the CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = [d.name for kind in ("GPU", "TPU")
                   for d in tf.config.list_physical_devices(kind)]
        return ", ".join(devices) or None
    if backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
        return ", ".join(str(d) for d in devices) or None
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return None


# ------------------------------------------------------------------------------ estimate

def _newest_bench(results_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    from .bench import load_results, newest_record

    path = newest_record(results_dir)
    return (path, load_results(path)) if path is not None else None


def measured_step_cost(record: dict[str, Any]) -> tuple[float, int]:
    """Seconds per image of one Custom CNN training step and the input size it was measured
    at, from a bench record's ``pipeline_vs_compute`` figure (augmenting pipeline included)."""
    try:
        data = record["figures"]["pipeline_vs_compute"]["data"]
        per_image = 1.0 / (float(data["pipeline_steps_per_s"]) * int(data["batch_size"]))
        return per_image, int(data["size"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        raise JewelNetError("the bench record has no usable pipeline_vs_compute figure "
                            f"({err})") from err


def model_macs(sizes: dict[str, int]) -> dict[str, int]:
    """Multiply-accumulates of one forward pass per model at the given input sizes."""
    from ..run import models

    return {m: models.flops(models.build_model(m, input_size=s, weights=None))
            for m, s in sizes.items()}


def estimate_cpu_seconds(profile: Profile, record: dict[str, Any]) -> dict[str, float]:
    """Upper estimate (every epoch run, no early stopping) of the training seconds per model
    on the machine of ``record``: the measured Custom CNN cost per image, scaled by each
    model's multiply-accumulates at the profile's input size; frozen layers count a third."""
    per_image, size0 = measured_step_cost(record)
    macs = model_macs({m: profile.input_size(m) for m in MODELS})
    reference = model_macs({"custom_cnn": size0})["custom_cnn"]
    train = TABLE_4_1.value("train")  # JewelSynth's thesis counts give Table 4.1's split
    if profile.max_train_per_class is not None:
        train = min(train, profile.max_train_per_class * len(CLASSES))
    images = train * profile.epoch_repeats
    out: dict[str, float] = {}
    for m in MODELS:
        cost = per_image * macs[m] / reference
        if MODEL_SPECS[m].two_stage:
            stage1 = profile.stage1_epochs * images * cost * FROZEN_SHARE
            out[m] = stage1 + profile.stage2_epochs_for(m) * images * cost
        else:
            out[m] = profile.max_epochs * images * cost
    return out


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def _estimate_lines(profile: Profile, results_dir: Path) -> list[str]:
    found = _newest_bench(results_dir)
    if found is None:
        return [f"preflight: no full bench record in {results_dir}/ to estimate the run time "
                "from (run `jewelnet bench --json results/bench-<date>.json`)"]
    path, record = found
    per_image, size0 = measured_step_cost(record)
    seconds = estimate_cpu_seconds(profile, record)
    lines = [f"preflight: estimated training time of the {profile.name} profile on a CPU like "
             f"the one of {path.as_posix()}, at most (every epoch, no early stopping): the "
             f"Custom CNN's measured {per_image * 1000:.1f} ms per image at {size0} px, scaled "
             "by each model's multiply-accumulates"]
    lines += [f"  {m:<15} {_hours(s):>9}" for m, s in seconds.items()]
    total = sum(seconds.values())
    lines.append(f"  {'total':<15} {_hours(total):>9} ({total / 86400:.1f} days)")
    return lines


# ------------------------------------------------------------------------------ command

class NoAccelerator(JewelNetError):
    """A GPU profile with no GPU in sight. ``lines`` holds what was checked and the CPU time
    estimate: the reason to read before choosing ``PAPER_ON_CPU=1`` or a smaller profile."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def preflight(profile: Profile, results_dir: Path = RESULTS_DIR,
              environ: dict[str, str] | None = None, weights: str | None = None) -> list[str]:
    """Run the checks; return the lines to show, or raise :class:`JewelNetError`
    (:class:`NoAccelerator`, carrying the estimate, when only a GPU is missing).
    ``weights`` overrides the profile's default weights, as ``make book WEIGHTS=...`` does."""
    environ = os.environ if environ is None else environ
    imagenet_models = needed_weights(profile, weights)
    if not imagenet_models and not profile.needs_accelerator:
        return [f"preflight: profile {profile.name} needs no downloaded weights and runs on a "
                "CPU: go"]
    lines = []
    if imagenet_models:
        files = check_weights(profile, weights)
        lines.append(f"preflight: ImageNet weights of {', '.join(imagenet_models)} found in "
                     f"{files[0].parent}")
    if not profile.needs_accelerator:
        return lines
    device = accelerator()
    if device:
        return [*lines, f"preflight: accelerator {device}: go"]
    lines += _estimate_lines(profile, results_dir)
    if environ.get(OVERRIDE_ENV) != "1":
        raise NoAccelerator(
            f"the {profile.name} profile is meant for a GPU and Keras sees none; set "
            f"{OVERRIDE_ENV}=1 to run it on this CPU anyway (see the estimate above), or "
            "build with PROFILE=cpu", lines)
    return [*lines, f"preflight: no accelerator; going on because {OVERRIDE_ENV}=1"]


__all__ = ["preflight", "NoAccelerator", "needed_weights", "check_weights", "accelerator",
           "estimate_cpu_seconds", "measured_step_cost"]
