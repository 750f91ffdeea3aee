"""Command line: ``python -m training {train,evaluate,predict,thresholds,ablate,synth} ...``.

A thin layer over :mod:`training.runs`, :mod:`training.ablate` and :mod:`training.synth`:
it parses arguments, shows a progress bar and prints results. ``--help`` on any subcommand
lists its options; docs/training.md has the details.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Literal

from training.config import ConfigError, load_config


class TqdmProgress:
    """Progress callback drawing one tqdm bar per epoch (rank 0 only calls it)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.bar: Any = None
        self.epoch = -1

    def __call__(self, progress: dict[str, Any]) -> None:
        """Advance the bar to ``progress["step"]`` and show loss, lr, speed and the run's ETA."""
        from tqdm import tqdm

        if progress["epoch"] != self.epoch:
            self.close()
            self.epoch = progress["epoch"]
            self.bar = tqdm(
                total=progress["total"],
                desc=f"{self.prefix}epoch {self.epoch + 1}/{progress['epochs']}",
                dynamic_ncols=True,
                leave=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]",
            )
        self.bar.update(progress["step"] - self.bar.n)
        self.bar.set_postfix(
            loss=f"{progress['loss']:.4f}",
            lr=f"{progress['lr']:.2e}",
            img_s=f"{progress['images_per_s']:.0f}",
            eta=f"{progress['eta_s'] / 60:.1f}min",
        )

    def close(self) -> None:
        """Close the current bar, if any."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _add_data_args(parser: argparse.ArgumentParser, taxonomy: bool = True) -> None:
    parser.add_argument("--manifest", required=True, type=Path, help="manifest JSON Lines")
    if taxonomy:
        parser.add_argument("--taxonomy", required=True, type=Path, help="taxonomy JSON")
    parser.add_argument(
        "--images-root", required=True, type=Path, help="folder the manifest's image paths are relative to"
    )


def _add_config_args(parser: argparse.ArgumentParser, with_file: bool = True) -> None:
    if with_file:
        parser.add_argument("--config", type=Path, help="YAML file overriding training/defaults.yaml")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key (repeatable), e.g. --set lr=0.01",
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from training.runs import train_run

    saved = args.out / "config.yaml"
    if args.resume and not (args.out / "checkpoint.pt").exists():
        raise FileNotFoundError(f"--resume: no checkpoint.pt in {args.out}")
    config = load_config(args.config, args.set, base_path=saved if args.resume and saved.exists() else None)
    progress = TqdmProgress()
    try:
        result = train_run(
            config,
            manifest=args.manifest,
            taxonomy=args.taxonomy,
            images_root=args.images_root,
            run_dir=args.out,
            resume=args.resume,
            callback=progress,
        )
    finally:
        progress.close()
    if _is_main_process():
        skipped = sum(epoch["skipped"] for epoch in result.history)
        print(f"run folder: {args.out}")
        if skipped or result.skipped_val:
            print(f"unreadable images skipped: {skipped} in training (all epochs), {result.skipped_val} in val")
        if result.evaluation is not None:
            _print_metrics(result.evaluation.metrics)
    return 0


def _print_metrics(metrics: dict[str, Any]) -> None:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    print(
        f"val images: {metrics['images']}  mAP: {fmt(metrics['mAP'])}  "
        f"mAP after relations: {fmt(metrics['mAP_relations'])}"
    )
    info = metrics.get("thresholds", {})
    if info.get("disabled"):
        print(f"labels disabled by thresholds ({len(info['disabled'])}): {', '.join(info['disabled'])}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from training.runs import evaluate_run

    evaluation = evaluate_run(
        args.run, manifest=args.manifest, taxonomy=args.taxonomy, images_root=args.images_root, overrides=args.set
    )
    _print_metrics(evaluation.metrics)
    print(f"wrote {args.run / 'metrics.json'}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from training.runs import predict_run

    stats = predict_run(
        args.run,
        manifest=args.manifest,
        images_root=args.images_root,
        out=args.out,
        split=args.split,
        overrides=args.set,
    )
    print(
        f"wrote {stats.images} predictions to {args.out} in {stats.seconds:.1f} s ({stats.images_per_s:.1f} images/s)"
        + (f"; {stats.skipped} unreadable images skipped" if stats.skipped else "")
    )
    return 0


def _cmd_thresholds(args: argparse.Namespace) -> int:
    from training.checkpoint import THRESHOLDS, read_json
    from training.runs import recompute_thresholds

    mode: Literal["precision", "recall", "f1"] = "f1"
    target: float | None = None
    if args.target_precision is not None:
        mode, target = "precision", args.target_precision
    elif args.target_recall is not None:
        mode, target = "recall", args.target_recall
    evaluation = recompute_thresholds(args.run, mode=mode, target=target)
    selection = read_json(args.run / THRESHOLDS)["labels"]
    disabled = {key: entry["reason"] for key, entry in selection.items() if not entry["enabled"]}
    print(
        f"thresholds ({mode}{'' if target is None else f' >= {target}'}): "
        f"{len(selection) - len(disabled)} labels enabled, {len(disabled)} disabled"
    )
    for key, reason in disabled.items():
        print(f"  disabled {key}: {reason}")
    _print_metrics(evaluation.metrics)
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from training.ablate import format_table, run_ablation

    config = load_config(args.config, args.set)
    bars: list[TqdmProgress] = []

    def callback_for(recipe: str) -> TqdmProgress:
        for bar in bars:
            bar.close()  # the previous recipe is done
        bars.append(TqdmProgress(prefix=f"{recipe} "))
        return bars[-1]

    try:
        rows = run_ablation(
            config,
            manifest=args.manifest,
            taxonomy=args.taxonomy,
            images_root=args.images_root,
            out_dir=args.out,
            callback_for=callback_for,
        )
    finally:
        for bar in bars:
            bar.close()
    if rows:
        print(format_table(rows))
        print(f"wrote {args.out / 'ablation.md'} and {args.out / 'ablation.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every subcommand except ``synth`` (handed to training.synth as is)."""
    parser = argparse.ArgumentParser(prog="python -m training", description="LabelLoop multi-label training.")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model into a run folder")
    _add_data_args(train)
    train.add_argument("--out", required=True, type=Path, help="run folder")
    _add_config_args(train)
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt with OUT/config.yaml")
    train.set_defaults(func=_cmd_train)

    evaluate = sub.add_parser("evaluate", help="score the val split, write RUN/metrics.json")
    evaluate.add_argument("--run", required=True, type=Path)
    _add_data_args(evaluate)
    _add_config_args(evaluate, with_file=False)
    evaluate.set_defaults(func=_cmd_evaluate)

    predict = sub.add_parser("predict", help="write predictions JSON Lines")
    predict.add_argument("--run", required=True, type=Path)
    _add_data_args(predict, taxonomy=False)
    predict.add_argument("--out", required=True, type=Path, help="predictions file (.jsonl)")
    predict.add_argument("--split", choices=["train", "val", "all"], default="all")
    _add_config_args(predict, with_file=False)
    predict.set_defaults(func=_cmd_predict)

    thresholds = sub.add_parser("thresholds", help="re-choose thresholds from RUN/val_scores.npz")
    thresholds.add_argument("--run", required=True, type=Path)
    goal = thresholds.add_mutually_exclusive_group(required=True)
    goal.add_argument("--target-precision", type=float, metavar="P")
    goal.add_argument("--target-recall", type=float, metavar="R")
    goal.add_argument("--best-f1", action="store_true")
    thresholds.set_defaults(func=_cmd_thresholds)

    ablate = sub.add_parser("ablate", help="baseline vs + repeat-factor sampling vs + focal loss")
    _add_data_args(ablate)
    ablate.add_argument("--out", required=True, type=Path, help="folder for the three runs and the table")
    _add_config_args(ablate)
    ablate.set_defaults(func=_cmd_ablate)

    sub.add_parser("synth", help="generate the synthetic demo dataset (see `synth --help`)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with the reason on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "synth":
        from training import synth

        return synth.main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from tqdm.contrib.logging import logging_redirect_tqdm

    from training.engine import NonFiniteLossError

    try:
        with logging_redirect_tqdm():
            return int(args.func(args))
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ConfigError, ValueError, FileNotFoundError) as error:
        # Bad input (config, manifest, taxonomy, weights file): one line, no traceback.
        # --log-level DEBUG shows the traceback.
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
