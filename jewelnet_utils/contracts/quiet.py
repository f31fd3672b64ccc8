"""Keep TensorFlow's start-up log lines off the screen unless asked for.

Importing TensorFlow prints native log lines (oneDNN, CPU instruction sets, "Could not find
cuda drivers", and at the first operation "failed call to cuInit" on any machine without a
GPU) that read as failures and push a command's own first line down. Two mechanisms are needed:

* ``TF_CPP_MIN_LOG_LEVEL=3`` set in-process before the import hides the lines logged once
  TensorFlow's logging is set up (cuInit, CPU features, graph warnings);
* the lines logged *before* that ("All log messages before absl::InitializeLog() ...") honour
  only a level present when the process started, so the import of ``tensorflow`` itself runs
  with the native stderr (file descriptor 2) captured; what is not a TensorFlow log line is
  written back afterwards, and everything is written back if the import fails.

The package installs both when it is imported (``jewelnet_utils/__init__.py``), which covers
the CLI and the notebooks, whoever imports TensorFlow first. ``jewelnet --verbose`` or
``JEWELNET_VERBOSE=1`` keeps every line.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType
from typing import Any

VERBOSE_ENV = "JEWELNET_VERBOSE"
# 3 hides native INFO, WARNING and ERROR lines (the cuInit line is logged as an ERROR). Real
# failures still reach the user: TensorFlow raises them as Python exceptions.
QUIET_ENV: dict[str, str] = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",  # gRPC, loaded by TensorFlow, has its own start-up notes
}
# Native log lines: "I0000 00:00:1795.123 4795 port.cc:153] ...", absl's notice before its
# set-up, and the second line of the CPU-instructions note.
_NATIVE_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s:]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\)"
    r"|To enable the following instructions: )"
)
_set_here: dict[str, str] = {}


def verbose_requested() -> bool:
    """True when the user asked for TensorFlow's own logs (JEWELNET_VERBOSE=1)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def is_native_log_line(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's native (C++) log lines."""
    return bool(_NATIVE_LOG_LINE.match(line))


@contextlib.contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Capture file descriptor 2 for the block; afterwards write back what is not a native
    TensorFlow log line (all of it if the block raised, since it may explain the failure)."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True)
                    if failed or not is_native_log_line(line)]
            if kept:
                sys.stderr.write("".join(kept))


class _QuietLoader(importlib.abc.Loader):
    """Wraps TensorFlow's own loader: the same module, executed with stderr filtered."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with filtered_native_stderr():
            self._inner.exec_module(module)
        # TensorFlow's Python-side warnings (tf.function retracing when several models are
        # called in turn) are advice for TensorFlow's developers, not for our readers.
        with contextlib.suppress(AttributeError):
            module.get_logger().setLevel(logging.ERROR)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._inner, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the ordinary finders, then wraps its loader; acts once."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "tensorflow":
            return None
        _remove_finder()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]


def silence_tensorflow() -> None:
    """Hide TensorFlow's start-up lines, unless the user asked for them (JEWELNET_VERBOSE)
    or set the level themselves. Has its full effect only before TensorFlow is imported."""
    if verbose_requested():
        return
    for key, value in QUIET_ENV.items():
        if key not in os.environ:
            os.environ[key] = value
            _set_here[key] = value
    if "tensorflow" not in sys.modules and not any(
            isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


def restore_tensorflow_logs() -> None:
    """Undo :func:`silence_tensorflow` (for ``--verbose``): only values it set are removed,
    and only a TensorFlow imported after this call logs at its own default level."""
    os.environ[VERBOSE_ENV] = "1"
    _remove_finder()
    for key, value in list(_set_here.items()):
        if os.environ.get(key) == value:
            del os.environ[key]
        del _set_here[key]
