"""A safe start on a hosted runtime (Colab, Kaggle, Binder): the notebooks' first cell.

Hosted runtimes ship their own, GPU-enabled TensorFlow with matching Keras and NumPy builds.
Replacing any of them (which a plain ``pip install`` of this package would do when its
declared range excludes the runtime's version) breaks the GPU build or silently changes
results. So the first cell installs this package with ``--no-deps`` and then calls
:func:`prepare_runtime`, which

* installs only the declared dependencies that are *missing*, with the runtime's TensorFlow,
  Keras and NumPy pinned as constraints so no dependency can upgrade them;
* compares the runtime's versions with the range the package was tested with (in
  ``pyproject.toml``) and says so plainly when one lies outside it;
* reports the GPU and moves into the checkout's ``notebooks/`` folder.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

DISTRIBUTION = "jewelnet-utils"
# The runtime's own builds; never installed over, only checked.
PROTECTED = ("tensorflow", "keras", "numpy")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_requirements(checkout: str | os.PathLike[str] | None = None) -> list[str]:
    """The package's runtime requirements: from the checkout's pyproject.toml when there is
    one (an editable install's metadata can be older), else from the installed metadata."""
    pyproject = Path(checkout) / "pyproject.toml" if checkout is not None else None
    if pyproject is not None and pyproject.is_file() and sys.version_info >= (3, 11):
        import tomllib

        return list(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
                    ["dependencies"])
    return [r for r in metadata.requires(DISTRIBUTION) or [] if "extra ==" not in r]


def installed_version(name: str) -> str | None:
    """The installed version of ``name``, also when another distribution provides its module:
    a runtime with ``tensorflow-cpu`` (or ``-gpu``, ``-intel``) has TensorFlow, and treating it
    as missing would make pip install a second ``tensorflow`` over the runtime's."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
    providers = metadata.packages_distributions().get(_canonical(name).replace("-", "_"), [])
    for provider in providers:
        try:
            return metadata.version(provider)
        except metadata.PackageNotFoundError:
            continue
    return None


VersionOf = Callable[[str], "str | None"]


def missing_requirements(requirements: Iterable[str],
                         version_of: VersionOf | None = None) -> list[str]:
    """Requirements whose package is not installed at all (installed ones are left alone)."""
    version_of = version_of or installed_version
    return [r for r in requirements if version_of(_name(r)) is None]


def protected_constraints(version_of: VersionOf | None = None) -> list[str]:
    """``name==version`` for each protected package the runtime has."""
    version_of = version_of or installed_version
    return [f"{name}=={v}" for name in PROTECTED if (v := version_of(name)) is not None]


def version_report(requirements: Iterable[str],
                   version_of: VersionOf | None = None) -> list[str]:
    """One line per protected package: its version and whether the tested range holds it."""
    from packaging.requirements import Requirement

    version_of = version_of or installed_version

    lines = []
    declared = {_canonical(_name(r)): Requirement(r) for r in requirements}
    for name in PROTECTED:
        version = version_of(name)
        spec = declared.get(name)
        tested = str(spec.specifier) if spec is not None and spec.specifier else "any"
        if version is None:
            lines.append(f"{name}: not installed (tested {tested})")
        elif spec is None or spec.specifier.contains(version, prereleases=True):
            lines.append(f"{name} {version}: within the tested range ({tested})")
        else:
            lines.append(f"{name} {version}: OUTSIDE the tested range ({tested}); kept as the "
                         "runtime ships it, results may differ slightly")
    return lines


def install_missing(requirements: list[str]) -> list[str]:
    """pip-install the missing requirements, the protected packages pinned as they are."""
    missing = missing_requirements(requirements)
    if not missing:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        pins.write("\n".join(protected_constraints()) + "\n")
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", pins.name,
                        *missing], check=True)
    except subprocess.CalledProcessError as err:
        from .contracts.config import JewelNetError

        raise JewelNetError(
            f"pip could not install {', '.join(missing)} next to this runtime's "
            f"{', '.join(protected_constraints())} (pip's message is above); install a "
            "compatible version of the package that failed by hand, then run this cell again"
        ) from err
    finally:
        os.unlink(pins.name)
    return missing


def gpu_report() -> str:
    """The attached GPU(s) as nvidia-smi names them, or a hint to switch one on."""
    smi = shutil.which("nvidia-smi")
    if smi:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return "No GPU attached: switch the runtime to a GPU for PROFILE='paper'."


def prepare_runtime(checkout: str | os.PathLike[str]) -> None:
    """Install what is missing, report versions and the GPU, and cd into the notebooks."""
    requirements = declared_requirements(checkout)
    added = install_missing(requirements)
    print("Installed: " + (", ".join(_name(r) for r in added) if added else "nothing missing"))
    for line in version_report(requirements):
        print(line)
    print(gpu_report())
    print("Photos: set DATA_DIR in the parameters cell to a folder with one sub-folder per class.")
    print("ImageNet weights: WEIGHTS='imagenet' downloads them once into ~/.keras/models/.")
    os.chdir(Path(checkout) / "notebooks")
