"""The command line end to end (train → evaluate → predict → thresholds, ablate, synth) and the config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import average_precision_score

from tests.training.test_data import KEYS, make_tiny_dataset, one_thread  # noqa: F401 (fixture)
from training import checkpoint as ckpt
from training.__main__ import main
from training.config import DEFAULTS_PATH, ConfigError, TrainConfig, load_config, parse_set

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "backbone=tiny_cnn",
    "image_size=32",
    "batch_size=8",
    "num_workers=0",
    "device=cpu",
    "lr=0.1",
    "crop_scale_min=0.5",
    "warmup_epochs=0.5",
]


def _sets(*pairs: str) -> list[str]:
    return [arg for pair in (*TINY, *pairs) for arg in ("--set", pair)]


@pytest.mark.usefixtures("one_thread")
def test_train_evaluate_predict_thresholds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=48)
    run = tmp_path / "run"
    paths = ["--manifest", str(data.manifest), "--images-root", str(data.root)]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("epochs: 3\nloss: asl\n", encoding="utf-8")
    assert (
        main(
            [
                "train",
                *paths,
                "--taxonomy",
                str(data.taxonomy),
                "--out",
                str(run),
                "--config",
                str(recipe),
                *_sets("seed=3"),
            ]
        )
        == 0
    )
    assert "mAP:" in capsys.readouterr().out
    saved = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    assert saved["epochs"] == 3 and saved["loss"] == "asl" and saved["seed"] == 3 and saved["backbone"] == "tiny_cnn"

    (run / "metrics.json").unlink()
    assert main(["evaluate", "--run", str(run), *paths, "--taxonomy", str(data.taxonomy)]) == 0
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) >= {"mAP", "mAP_relations", "labels"}
    for entry in metrics["labels"].values():
        assert set(entry) >= {"ap", "support", "threshold", "precision", "recall"}
    with np.load(run / "val_scores.npz") as saved_scores:
        assert saved_scores["scores"].shape == (12, len(KEYS))

    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--run", str(run), *paths, "--out", str(out), "--split", "val"]) == 0
    assert "images/s" in capsys.readouterr().out
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 12
    # metrics.json's AP of every label is scikit-learn's AP on the scores predict wrote.
    truth = {
        row["image"]: set(row["labels"])
        for row in map(json.loads, data.manifest.read_text(encoding="utf-8").splitlines())
        if row["split"] == "val"
    }
    for key in KEYS:
        y_true = [int(key in truth[line["image"]]) for line in lines]
        y_score = [line["scores"][key] for line in lines]
        if any(y_true):
            assert metrics["labels"][key]["ap"] == average_precision_score(y_true, y_score), key
        else:
            assert metrics["labels"][key]["no_positives"]
    thresholds = json.loads((run / "thresholds.json").read_text(encoding="utf-8"))["labels"]
    for line in lines:
        assert list(line["scores"]) == KEYS and all(0 <= s <= 1 for s in line["scores"].values())
        assert set(line["labels"]) <= set(KEYS)
        assert not ({"dark", "light"} <= set(line["labels"]))  # excluded pair never output together
        if set(line["labels"]) & {"red", "green", "blue"}:
            assert "color" in line["labels"]  # parent lifted by relations
        for key in line["labels"]:
            if key not in ("color",):
                assert (
                    thresholds[key]["enabled"] and line["scores"][key] >= round(thresholds[key]["threshold"], 5) - 1e-5
                )

    assert main(["thresholds", "--run", str(run), "--target-precision", "1.0"]) == 0
    printed = capsys.readouterr().out
    assert "labels enabled" in printed
    selection = json.loads((run / "thresholds.json").read_text(encoding="utf-8"))
    assert selection["mode"] == "precision" and selection["target"] == 1.0
    for key, entry in selection["labels"].items():
        if entry["enabled"]:
            assert entry["precision"] == 1.0
        else:
            assert f"disabled {key}:" in printed


@pytest.mark.usefixtures("one_thread")
def test_ablate_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=32)
    code = main(
        [
            "ablate",
            "--manifest",
            str(data.manifest),
            "--taxonomy",
            str(data.taxonomy),
            "--images-root",
            str(data.root),
            "--out",
            str(tmp_path / "ablation"),
            *_sets("epochs=1", "rfs_threshold=0.5"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for recipe in ("baseline", "rfs", "rfs_focal"):
        assert f"| {recipe} |" in printed
    assert "head = the third of labels most frequent" in printed
    rows = ckpt.read_json(tmp_path / "ablation" / "ablation.json")["rows"]
    assert [r["recipe"] for r in rows] == ["baseline", "rfs", "rfs_focal"]
    assert all(set(r) >= {"mAP", "P@R0.5", "head_mAP", "tail_mAP"} for r in rows)


def test_bad_input_exits_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=4)
    base = [
        "train",
        "--manifest",
        str(data.manifest),
        "--taxonomy",
        str(data.taxonomy),
        "--images-root",
        str(data.root),
        "--out",
        str(tmp_path / "run"),
    ]
    assert main([*base, "--set", "learning_rate=0.1"]) == 2
    assert "unknown config key 'learning_rate'" in capsys.readouterr().err
    assert main([*base, "--resume"]) == 2
    assert "no checkpoint.pt" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "a.jpg", "labels": ["cat"], "split": "train"}\n', encoding="utf-8")
    assert main([*base[:2], str(bad), *base[3:], *_sets()]) == 2
    assert "line 1: labels 'cat' not in the taxonomy" in capsys.readouterr().err


def test_synth_is_dispatched(tmp_path: Path) -> None:
    pytest.importorskip("training.synth")
    assert main(["synth", "--out", str(tmp_path / "synth"), "--images", "12", "--seed", "0"]) == 0
    assert (tmp_path / "synth" / "manifest.jsonl").exists() and (tmp_path / "synth" / "taxonomy.json").exists()


def test_module_entry_point_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "training", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0
    for command in ("train", "evaluate", "predict", "thresholds", "ablate", "synth"):
        assert command in done.stdout


def test_defaults_file_lists_every_key_once() -> None:
    loaded = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    assert list(loaded) == list(TrainConfig.__dataclass_fields__)
    load_config()  # the defaults are valid as they stand


def test_overrides_are_typed() -> None:
    config = load_config(
        overrides=[
            "lr=0.5",
            "epochs=3",
            "milestones=[1, 2]",
            "grad_clip=null",
            "ema=true",
            "backbone=1e3",
            "pretrained=/w/r50.pth",
            "weight_decay=0",
        ]
    )
    assert config.lr == 0.5 and config.epochs == 3 and config.milestones == [1, 2] and config.grad_clip is None
    assert config.ema is True and config.backbone == "1e3" and config.pretrained == "/w/r50.pth"
    assert isinstance(config.weight_decay, float)
    assert parse_set("threshold_target=0.9") == ("threshold_target", 0.9)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("epochs=two", "expected an integer"),
        ("epochs=2.5", "expected an integer"),
        ("loss=hinge", "one of bce, focal, asl"),
        ("ema=maybe", "expected true or false"),
        ("milestones=3", "expected a list"),
        ("epoch=3", "did you mean 'epochs'"),
        ("noequals", "expects key=value"),
        ("threshold_mode=precision", "needs threshold_target"),
    ],
)
def test_bad_overrides_name_the_key(assignment: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[assignment])


def test_config_file_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 2\nbatchsize: 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"unknown config key 'batchsize' in {path}; did you mean 'batch_size'"):
        load_config(path)
