"""Small shared helpers: atomic writes, hashing, seeding, library versions, timing and the
machine's CPU model."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import JewelNetError


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temp file, so a failure never leaves half a file.

    ``durable`` also flushes the bytes to disk before the rename (a power cut then leaves the
    old file or the new one); files that are cheap to recreate can skip that cost.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise JewelNetError(f"cannot write {path}: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); give it the usual umask-based mode instead.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise JewelNetError(f"cannot write {path}: {err.strerror or err}") from err
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Text flavour of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, turning a missing or broken file into a clear error."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise JewelNetError(f"file not found: {path}") from err
    except (OSError, ValueError) as err:
        raise JewelNetError(f"cannot read {path} as JSON: {err}") from err


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def set_seed(seed: int) -> None:
    """Fix Python, NumPy and Keras (hence TensorFlow/JAX) random state for one run."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import keras

        keras.utils.set_random_seed(seed)
    except ImportError:  # keras not installed: data-only use
        pass


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's numbers, for the run's config."""
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for name in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "scikit-learn", "pillow",
                 "keras-tuner", "jax", "faiss-cpu"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    try:
        import keras

        out["keras_backend"] = keras.backend.backend()
    except ImportError:
        pass
    return out


def median_ms(fn: Callable[[], Any], repeats: int, budget_s: float = math.inf) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` calls (at least one).

    With ``budget_s``, the calls stop early (after at least three) once that many seconds are
    spent, so timing a big model on a CPU does not stall a report.
    """
    times: list[float] = []
    for i in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if sum(times) > budget_s and i >= 2:
            break
    return 1000.0 * statistics.median(times)


def cpu_model() -> str | None:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), or None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None
