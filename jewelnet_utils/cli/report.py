"""``jewelnet evaluate``, ``predict`` and ``recommend``: the commands that read run folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..contracts.config import JewelNetError
from ..report import evaluate, plots, recommend

SUMMARY_COLUMNS = ["run", "Accuracy", "Accuracy CI low", "Accuracy CI high", "F1", "FPR",
                   "FNR", "ECE"]


def _note(command: str, text: str) -> None:
    print(f"jewelnet {command}: {text}", file=sys.stderr)


def _finished_runs(folders: list[str]) -> list[evaluate.Run]:
    """The run folders that load; each one that does not is skipped with a note (--runs
    artifacts/* also matches artifacts/tuning and runs still training)."""
    runs = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            _note("evaluate", f"skipping {folder}: not a folder")
            continue
        try:
            runs.append(evaluate.load_run(folder))
        except JewelNetError as err:
            _note("evaluate", f"skipping {folder}: {err}")
    if not runs:
        raise JewelNetError("none of the --runs folders is a finished run folder "
                            f"({', '.join(folders)})")
    return runs


def run_evaluate(args: argparse.Namespace) -> int:
    """``jewelnet evaluate --runs artifacts/* --out reports/``."""
    result = evaluate.evaluate_runs(_finished_runs(args.runs), args.out, seed=args.seed,
                                    n_bootstrap=args.bootstrap, figures=not args.no_figures,
                                    timing=not args.no_timing)
    print(result["summary"][SUMMARY_COLUMNS].to_string(index=False,
                                                       float_format=lambda v: f"{v:.4f}"))
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {len(result['files'])} files to {args.out}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """``jewelnet predict --run DIR IMAGE...``: one tab-separated line per good image (path,
    class, confidence, top-3); each bad image one line on stderr; exit 1 if any failed."""
    failed = 0
    for answer in recommend.predict_images(args.run, args.images):
        if "error" in answer:
            failed += 1
            _note("predict", f"error: {answer['error']}")
            continue
        top = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in answer["top"])
        print(f"{answer['path']}\t{answer['class']}\t{answer['confidence']:.4f}\t{top}")
    return 1 if failed else 0


def run_recommend(args: argparse.Namespace) -> int:
    """``jewelnet recommend --run DIR --catalog DIR --query IMAGE... -k 5 [--gallery PNG]``:
    top-K similar catalog items per query; a bad query gets one line on stderr and the rest
    are answered; exit 1 if any query failed."""
    if args.k < 1:
        raise JewelNetError(f"-k must be at least 1, got {args.k}")
    model, cfg = evaluate.load_run_model(args.run)
    size = recommend.model_input_size(model, cfg)
    index, notes = recommend.open_catalog(model, args.run, args.catalog, size,
                                          backend=args.backend, use_cache=not args.no_cache,
                                          split=args.split)
    for note in notes:
        _note("recommend", f"note: {note}")
    classes = [str(c) for c in cfg["classes"]]
    answers = []
    for query in args.query:
        try:
            result = recommend.recommend_photo(model, classes, index, query, size, args.k)
        except (JewelNetError, OSError, ValueError) as err:
            _note("recommend", f"error: {err}")
            continue
        print(f"query: {query}")
        print(f"  predicted class: {result.predicted} (probability {result.probability:.2f})")
        for rank, hit in enumerate(result.hits, 1):
            print(f"  {rank}. {hit.score:.4f}  {hit.cls}  {hit.path}")
        answers.append((query, result))
    if args.gallery and answers:
        extra = f"run {Path(args.run).name}, catalog {Path(args.catalog)}, backend {index.backend}"
        plots.save_figure(recommend.recommendation_gallery(answers, cfg, extra), args.gallery)
        print(f"wrote {args.gallery}")
    return 0 if len(answers) == len(args.query) else 1
