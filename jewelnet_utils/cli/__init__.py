"""The ``jewelnet`` command line: the parser, and the one place that turns an error into a line.

Every subcommand is ``(module, function)``: a handler in this package's ``images``, ``run``,
``report`` or ``tools`` module (one per stage of the flow), which calls the domain function,
prints what it returns and gives the exit status. The module is imported only when the command
runs, so ``jewelnet --help`` stays fast and does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from ..contracts.config import DEFAULT_SEED, EXPERIMENTS, MODELS, PROFILES, JewelNetError
from ..contracts.quiet import restore_tensorflow_logs


def _audit(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", help="folder with one sub-folder of photos per class")
    p.add_argument("--json", dest="json_out", help="also write the full report as JSON here")
    p.add_argument(
        "--hash-threshold",
        type=int,
        default=4,
        help="perceptual-hash Hamming distance at or below which two images are near-duplicate "
             "candidates (each is then checked on the object's shape and colour)",
    )
    p.add_argument("--preview", help="write a thumbnail sheet (PNG) of the near-duplicate "
                   "groups and of the hash matches that were not counted")


def _split(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir")
    p.add_argument("--out", required=True, help="manifest to write (JSON)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--ratios", type=float, nargs=3, default=(0.7, 0.15, 0.15),
                   metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--hash-threshold", type=int, default=4)


def _synth(p: argparse.ArgumentParser) -> None:
    # counts/size/difficulty default to None so that --profile can supply them
    p.add_argument("--out", help="dataset folder to write (one sub-folder per class); default: "
                   "the profile's data/jewelsynth[-PROFILE]")
    p.add_argument("--counts", default=None,
                   help="thesis | balanced | N (images per class); default thesis")
    p.add_argument("--size", type=int, default=None, help="side length in pixels; default 256")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--difficulty", default=None, choices=("easy", "thesis", "hard"),
                   help="default thesis")
    p.add_argument("--preview", help="write a contact sheet (PNG) of samples per class; "
                   "without --out the samples are rendered in memory")
    p.add_argument("--profile", default=None,
                   help=f"take counts/size/difficulty from this profile ({', '.join(PROFILES)})")
    p.add_argument("--ensure", action="store_true",
                   help="only generate if the profile's data set is missing or incomplete")
    p.add_argument("--experiment", default=None, choices=(*EXPERIMENTS, "all"),
                   help="with --ensure: the data set of this thesis experiment (or of both)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes; default one per CPU (the output is identical)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _calibrate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--difficulty", nargs="+", default=["thesis"],
                   choices=("easy", "thesis", "hard"))
    p.add_argument("--profile", default="cpu", help="profile the Custom CNN trains in")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="split and training seed")
    p.add_argument("--data-seed", type=int, default=0, help="JewelSynth seed")
    p.add_argument("--root", default="artifacts/calibration", help="where data and runs go")
    p.add_argument("--record", help="calibration JSON to add the results to "
                   "(the shipped one is jewelnet_utils/tools/synth_calibration.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run folder")


def _train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--split", required=True, help="split manifest from `jewelnet split`")
    p.add_argument("--profile", default=None, help=f"one of: {', '.join(PROFILES)}")
    p.add_argument("--out", default="artifacts",
                   help="artifacts folder; each run gets a sub-folder")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--weights", default=None,
                   help="imagenet | none | PATH to a weights file (default: the profile's)")
    p.add_argument("--hparams", default=None, help="best.json from `jewelnet tune`")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run")
    p.add_argument("--strategy", default="default", choices=("default", "mirrored"))
    p.add_argument("--no-feature-cache", action="store_true",
                   help="train stage 1 through the frozen backbone instead of cached features")
    p.add_argument("--cache-views", type=int, default=None, metavar="K",
                   help="augmented views per training image in the stage-1 feature cache "
                        "(default: the profile's)")


def _pretrain(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   choices=("vgg16", "resnet50", "efficientnetb2", "all", "auto"),
                   help="auto: those the profile's default weights need (make book uses it)")
    p.add_argument("--profile", default=None, help=f"one of: {', '.join(PROFILES)}")
    p.add_argument("--force", action="store_true",
                   help="train again even if the cache holds this recipe's backbone")
    p.add_argument("--json", dest="json_out", help="also write the records as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", nargs="+", required=True,
                   help="run folders written by `jewelnet train`")
    p.add_argument("--out", default="reports",
                   help="folder for tables (CSV/JSON) and figures (PNG)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--no-figures", action="store_true", help="tables only, no PNG figures")
    p.add_argument("--no-timing", action="store_true",
                   help="skip the inference-latency measurements of the efficiency table")


def _predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run folder written by `jewelnet train`")
    p.add_argument("images", nargs="+")


def _recommend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True)
    p.add_argument("--catalog", required=True, help="folder of images, or a saved index")
    p.add_argument("--query", required=True, nargs="+")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--gallery", help="write a gallery figure (PNG)")
    p.add_argument("--backend", default="auto", choices=("auto", "numpy", "faiss", "faiss-ivf"))
    p.add_argument("--split", default=None,
                   help="with a manifest as --catalog: only this split (train/val/test)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write <catalog>/.jewelnet-index/<run>/")


def _tune(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--profile", default=None)
    p.add_argument("--out", default="artifacts/tuning")
    p.add_argument("--algorithm", default=None, choices=("hyperband", "bayesian", "random"))
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--overwrite", action="store_true",
                   help="start a fresh search (default: resume the one in --out)")
    p.add_argument("--max-trials", type=int, default=None,
                   help="override the profile's trial budget (raise it to extend a search)")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="override the profile's epochs per trial (Hyperband: of the longest)")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                   help="0 quiet, 1 a table per trial, 2 also Keras progress bars")


def _bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    p.add_argument("--json", dest="json_out", help="also write the results as JSON here")
    p.add_argument("--only", nargs="*", help="run only these figures (by name)")
    p.add_argument("--size", action="append", default=[], metavar="KEY=VALUE",
                   help="override one workload size, e.g. retrieval_n=1000,5000 (repeatable)")


def _protocol(p: argparse.ArgumentParser) -> None:
    p.add_argument("--write", metavar="PATH", help="write the page here (book/protocol.md) "
                   "instead of printing it")


def _preflight(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=None, help=f"one of: {', '.join(PROFILES)}")
    p.add_argument("--weights", default=None,
                   help="the weights the build will use (imagenet, none, a file), if not the "
                   "profile's default")


# name: (help, argument builder, module, function); modules are relative to the package
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str, str]] = {
    "audit": ("check a photo folder: counts, unusable files, duplicates", _audit, "cli.images",
              "run_audit"),
    "split": ("write a stratified, leak-free train/val/test manifest", _split, "cli.images",
              "run_split"),
    "synth": ("generate the JewelSynth procedural dataset", _synth, "cli.images", "run_synth"),
    "calibrate": ("train the Custom CNN on JewelSynth difficulties (calibration)", _calibrate,
                  "cli.tools", "run_calibrate"),
    "train": ("train one model and write a run folder", _train, "cli.run", "run_train"),
    "pretrain": ("pretrain a backbone on a pretext task without class labels (cached)",
                 _pretrain, "cli.run", "run_pretrain"),
    "evaluate": ("metrics, statistics and figures over run folders", _evaluate, "cli.report",
                 "run_evaluate"),
    "predict": ("classify images with a trained run", _predict, "cli.report", "run_predict"),
    "recommend": ("classify a photo and find visually similar catalog items", _recommend,
                  "cli.report", "run_recommend"),
    "tune": ("KerasTuner search whose best.json feeds `train --hparams`", _tune, "cli.run",
             "run_tune"),
    "bench": ("measured speed and memory ratios", _bench, "cli.tools", "run_bench"),
    "protocol": ("the appendix 'Protocol: thesis and ours', generated from the code",
                 _protocol, "cli.tools", "run_protocol"),
    "preflight": ("check weights and accelerator before a book build", _preflight,
                  "cli.tools", "run_preflight"),
}


def build_parser() -> argparse.ArgumentParser:
    """The full parser; tests and docs use it too."""
    parser = argparse.ArgumentParser(
        prog="jewelnet",
        description="JewelNet: fine-grained jewelry classification, reproducible end to end.",
    )
    parser.add_argument("--verbose", dest="show_tf_logs", action="store_true",
                        help="keep TensorFlow's own start-up log lines (hidden by default); "
                             "goes before the command, e.g. `jewelnet --verbose train ...`")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, build, _module, _func) in COMMANDS.items():
        build(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jewelnet`` console script."""
    args = build_parser().parse_args(argv)
    if args.show_tf_logs:
        restore_tensorflow_logs()  # TensorFlow is not imported yet: it loads with its defaults
    _help, _build, module_name, func_name = COMMANDS[args.command]
    try:
        module = importlib.import_module(f"jewelnet_utils.{module_name}")
        return int(getattr(module, func_name)(args) or 0)
    except JewelNetError as err:
        print(f"jewelnet {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jewelnet {args.command}: interrupted", file=sys.stderr)
        return 130
