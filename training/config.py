"""The training configuration: one typed dataclass, read once from YAML and overrides.

Resolution order (later wins): ``training/defaults.yaml`` → the run's saved ``config.yaml``
(only when resuming) → ``--config C.yaml`` → every ``--set key=value`` in order. Every value is
checked against the field's type; an unknown key or a bad value raises :class:`ConfigError`
naming the key and where it came from. The resolved config is saved to ``RUN/config.yaml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names the key and its source."""


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting; the defaults and a comment per key live in ``defaults.yaml``."""

    backbone: str
    pretrained: str | None
    image_size: int
    eval_crop_ratio: float
    crop_scale_min: float
    color_jitter: float
    decode_draft: bool
    epochs: int
    batch_size: int
    optimizer: Literal["sgd", "adamw"]
    lr: float
    momentum: float
    weight_decay: float
    schedule: Literal["cosine", "multistep"]
    warmup_epochs: float
    warmup_iters: int
    warmup_start_factor: float
    milestones: list[int]
    gamma: float
    grad_clip: float | None
    ema: bool
    ema_decay: float
    loss: Literal["bce", "focal", "asl"]
    pos_weight: float | None
    focal_alpha: float
    focal_gamma: float
    asl_gamma_neg: float
    asl_gamma_pos: float
    asl_clip: float
    unknown_as: Literal["negative", "ignore"]
    sampler: Literal["none", "rfs"]
    rfs_threshold: float
    rfs_mode: Literal["uniform", "sqrt"]
    threshold_mode: Literal["precision", "recall", "f1"]
    threshold_target: float | None
    relations: bool
    device: Literal["auto", "cpu", "cuda"]
    amp: bool
    amp_dtype: Literal["float16", "bfloat16"]
    deterministic: bool
    seed: int
    num_workers: int
    eval_every: int
    progress_every: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists copied), in field order, ready for YAML."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied and checked like any override."""
        return build_config(self.to_dict(), [("replace()", changes)])


_HINTS: dict[str, Any] = {}


def _field_types() -> dict[str, Any]:
    if not _HINTS:
        _HINTS.update(get_type_hints(TrainConfig))
    return _HINTS


def _unknown_key_error(key: str, source: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(_field_types()), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {key!r} in {source}{hint}")


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _coerce(key: str, value: Any, tp: Any, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (int → float widening allowed)."""

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"config key {key!r} in {source}: expected {expected}, got {value!r}")

    if _is_union(tp):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg, source)
            except ConfigError:
                continue
        raise bad(" or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in args))
    if get_origin(tp) is Literal:
        if value not in get_args(tp):
            raise bad("one of " + ", ".join(map(str, get_args(tp))))
        return value
    if get_origin(tp) is list:
        if not isinstance(value, list):
            raise bad("a list")
        (item_type,) = get_args(tp)
        return [_coerce(key, item, item_type, source) for item in value]
    if tp is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key!r}")  # a programming error, not user input


def _wants_raw_string(tp: Any) -> bool:
    """Fields whose ``--set`` text is taken verbatim (so ``backbone=1e3`` stays a string)."""
    args = [a for a in get_args(tp) if a is not type(None)] if _is_union(tp) else [tp]
    return all(a is str or (get_origin(a) is Literal and all(isinstance(x, str) for x in get_args(a))) for a in args)


def parse_set(assignment: str) -> tuple[str, Any]:
    """Parse one ``key=value`` override; the value is typed by the key's field (YAML syntax).

    ``--set lr=0.1``, ``--set milestones=[10,20]``, ``--set grad_clip=null``, ``--set ema=true``.
    """
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    tp = _field_types().get(key)
    if tp is None:
        raise _unknown_key_error(key, f"--set {assignment}")
    text = text.strip()
    if _wants_raw_string(tp) and text.lower() not in ("null", "none", "~"):
        return key, text
    try:
        return key, yaml.safe_load(text) if text else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {assignment}: cannot parse value ({error})") from error


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold one mapping (an empty file is an empty mapping)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of key: value, got {type(data).__name__}")
    return data


def _validate(config: TrainConfig) -> None:
    positive = ("epochs", "batch_size", "image_size", "progress_every")
    for key in positive:
        if getattr(config, key) < 1:
            raise ConfigError(f"config key {key!r} must be at least 1, got {getattr(config, key)}")
    for key in ("lr", "rfs_threshold", "eval_crop_ratio", "ema_decay"):
        if not getattr(config, key) > 0:
            raise ConfigError(f"config key {key!r} must be positive, got {getattr(config, key)}")
    if not 0 < config.crop_scale_min <= 1:
        raise ConfigError(f"config key 'crop_scale_min' must be in (0, 1], got {config.crop_scale_min}")
    if config.num_workers < 0 or config.warmup_iters < 0 or config.warmup_epochs < 0 or config.eval_every < 0:
        raise ConfigError("num_workers, warmup_iters, warmup_epochs and eval_every must not be negative")
    if config.threshold_mode != "f1" and config.threshold_target is None:
        raise ConfigError(f"threshold_mode {config.threshold_mode!r} needs threshold_target (a number in 0..1)")
    if config.threshold_target is not None and not 0 <= config.threshold_target <= 1:
        raise ConfigError(f"threshold_target must be in 0..1, got {config.threshold_target}")
    if config.focal_alpha > 1:
        raise ConfigError(f"focal_alpha must be at most 1 (or negative to disable it), got {config.focal_alpha}")
    if config.milestones != sorted(config.milestones):
        raise ConfigError(f"milestones must be increasing, got {config.milestones}")


def build_config(base: Mapping[str, Any], layers: Iterable[tuple[str, Mapping[str, Any]]]) -> TrainConfig:
    """Apply override ``layers`` (``(source name, mapping)``) on ``base`` and check the result."""
    hints = _field_types()
    values = dict(base)
    missing = sorted(set(hints) - set(values))
    if missing:
        raise ConfigError(f"base configuration lacks keys: {', '.join(missing)}")
    sources = dict.fromkeys(values, "defaults")
    for source, mapping in layers:
        for key, value in mapping.items():
            if key not in hints:
                raise _unknown_key_error(str(key), source)
            values[key] = value
            sources[key] = source
    for key in list(values):
        if key not in hints:
            raise _unknown_key_error(key, sources[key])
        values[key] = _coerce(key, values[key], hints[key], sources[key])
    config = TrainConfig(**values)
    _validate(config)
    return config


def load_config(
    config_path: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    base_path: str | Path | None = None,
) -> TrainConfig:
    """Resolve a config: defaults, then ``base_path`` (a saved run config), ``config_path``, ``--set``s."""
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if base_path is not None:
        layers.append((str(base_path), read_yaml_mapping(base_path)))
    if config_path is not None:
        layers.append((str(config_path), read_yaml_mapping(config_path)))
    for assignment in overrides:
        key, value = parse_set(assignment)
        layers.append((f"--set {assignment}", {key: value}))
    return build_config(read_yaml_mapping(DEFAULTS_PATH), layers)


def default_config(**changes: Any) -> TrainConfig:
    """The defaults from ``defaults.yaml`` with keyword ``changes`` (handy for tests and callers)."""
    return build_config(read_yaml_mapping(DEFAULTS_PATH), [("default_config()", changes)])


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (key order = field order)."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")
