"""Persistence of fitted encoders: weights as numpy arrays, rebuilt on load on a device this
machine has, and a pickle-free file format (safetensors arrays plus a JSON header).

The estimator decides *what* it saves (:mod:`skattr._estimator`); this module knows *how*: the
encoder's weights as plain arrays, the encoder rebuilt from its specification, the device
resolved on load, the version check, and reading and writing the file without ever executing code
from it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from ._device import resolve_device
from ._encoders import EncoderEnsemble, build_encoder
from ._training import Objective
from ._version import __version__

# Identifies skattr files and the layout of their header, which changes only with this number.
FILE_FORMAT = "skattr.xCEBRAAttributor"
FILE_FORMAT_VERSION = 1
# The header entry of a safetensors file that holds skattr's JSON metadata.
_METADATA_KEY = "skattr"


class SkattrVersionWarning(UserWarning):
    """An estimator saved by another version of skattr is being loaded."""


def encoder_weights(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """The encoder's ``state_dict`` as CPU numpy arrays (no torch objects, no device)."""
    return {name: value.detach().cpu().numpy() for name, value in module.state_dict().items()}


def upgrade_spec(spec: dict) -> dict:
    """An encoder description saved by an earlier skattr, in this version's terms (before
    0.12 a fit trained one encoder)."""
    return {"n_encoders": 1, **spec}


def rebuild_encoder(
    spec: dict, weights: dict[str, np.ndarray], device: torch.device
) -> torch.nn.Module:
    """The encoder described by ``spec`` (see :func:`upgrade_spec`) with ``weights``, in eval
    mode on ``device``: an :class:`~skattr._encoders.EncoderEnsemble` of ``n_encoders``.

    Raises
    ------
    ValueError
        If the weights do not fit the architecture (missing, unexpected or misshapen entries).
    """
    members = [build_encoder(
        spec["encoder"], int(spec["n_features"]), int(spec["n_latents"]),
        int(spec["hidden_units"]), torch.Generator(),
    ) for _ in range(int(spec["n_encoders"]))]
    module = (members[0] if len(members) == 1
              else EncoderEnsemble(members, int(spec["n_latents"])))
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    found = {name: tuple(np.shape(value)) for name, value in weights.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        unexpected = sorted(set(found) - set(expected))
        misshapen = sorted(
            name for name in set(expected) & set(found) if expected[name] != found[name]
        )
        raise ValueError(
            f"the saved weights do not fit {spec['n_encoders']} {spec['encoder']!r} "
            f"encoder(s) with "
            f"{spec['n_features']} features and {spec['n_latents']} latents: missing "
            f"{missing}, unexpected {unexpected}, wrong shape {misshapen}."
        )
    module.load_state_dict({name: torch.as_tensor(np.array(value)) for name, value in
                            weights.items()})
    return module.to(device).eval()


def device_on_load(saved: str) -> torch.device:
    """The saved device if this machine has it, else the CPU with a warning."""
    try:
        return resolve_device(saved)
    except ValueError:
        warnings.warn(
            f"The estimator was fitted on {saved!r}, which this machine does not have; its "
            "encoder is loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")


def objectives_to_json(objectives: tuple[Objective, ...]) -> list[dict]:
    """The fitted objectives as plain dicts (for JSON headers and pickle/skops states)."""
    return [dataclasses.asdict(objective) for objective in objectives]


def objectives_from_json(saved: list[dict] | None, embedding_names) -> tuple[Objective, ...]:
    """The fitted objectives back from :func:`objectives_to_json`.

    skattr 0.2.0 and earlier did not store them: they trained the time objective on the
    dimensions named ``time*`` only, disjoint from the behaviour block, and that layout is
    rebuilt from the embedding's names so that such models score and warm-start as fitted.
    """
    if saved is not None:
        return tuple(
            Objective(**{**objective, "columns": None if objective.get("columns") is None
                         else tuple(objective["columns"])})
            for objective in saved
        )
    names = [str(name) for name in embedding_names]
    n_behavior = sum(name.startswith("behavior") for name in names)
    objectives = []
    if n_behavior:
        objectives.append(Objective("behavior", 0, n_behavior, "behavior_positive"))
    if len(names) > n_behavior:
        objectives.append(Objective("time", n_behavior, len(names), "time_positive"))
    return tuple(objectives)


def check_version(saved: str | None) -> None:
    """Warn when ``saved`` (the skattr version that saved an estimator) is not this one."""
    if saved != __version__:
        warnings.warn(
            f"This estimator was saved with skattr {saved or 'unknown'} and is loaded with "
            f"skattr {__version__}; results may differ. Refit it with this version to be sure.",
            SkattrVersionWarning,
            stacklevel=3,
        )


def saved_before(saved: str | None, version: tuple[int, int]) -> bool:
    """Whether ``saved`` (a skattr version string, ``None`` if unknown) is older than
    ``version`` (major, minor); an unknown version counts as older."""
    if saved is None:
        return True
    try:
        return tuple(int(part) for part in saved.split(".")[:2]) < version
    except ValueError:
        return True


def upgrade_params(params: dict, saved: str | None) -> dict:
    """The parameters of an estimator saved by skattr ``saved``, in this version's terms: what
    a parameter it lacks meant then, or a value that has changed its meaning since."""
    # Before 0.2 there was no time_delta (the query took one-step label changes), before 0.6
    # no row_norm (maps were raw), before 0.8 no inverse_damping (the inverse was exact),
    # before 0.11 no behavior_gap (positives could be their reference's time neighbours),
    # before 0.12 no n_encoders (a fit trained one encoder), before 0.15 no unmix_blocks (the
    # inverse was of the encoder's own Jacobian), before 0.17 no inverse_window (each sample
    # was inverted with its own correlation), before 0.18 no inverse_map_window (each
    # sample kept its own map).
    params = {"time_delta": 1, "row_norm": None, "inverse_damping": 0.0, "behavior_gap": 0,
              "n_encoders": 1, "unmix_blocks": False, "inverse_window": 1,
              "inverse_map_window": 1, **params}
    if params.get("time_delta") == "auto" and saved_before(saved, (0, 9)):
        # Before 0.9, time_delta="auto" meant the time offset; now it reads the labels. (From
        # 0.9 to 0.10 it changed rule; a fitted model keeps its time_delta_ either way.)
        params["time_delta"] = "time_offset"
    return params


def write_file(path: str | os.PathLike, arrays: dict[str, np.ndarray], metadata: dict) -> None:
    """Write ``arrays`` and the JSON-serialisable ``metadata`` to one safetensors file.

    The bytes go to a temporary file beside ``path`` that then replaces it: an interrupted
    write (a checkpoint during training) never leaves a truncated file behind. The file gets
    the permissions of any file the user creates (``0o666`` less the umask; safetensors' own
    writer makes it readable by its owner only).
    """
    header = {"format": FILE_FORMAT, "format_version": FILE_FORMAT_VERSION,
              "skattr_version": __version__, **metadata}
    content = save(
        {name: np.ascontiguousarray(value) for name, value in arrays.items()},
        metadata={_METADATA_KEY: json.dumps(header, default=_json_scalar)},
    )
    path = os.fspath(path)
    partial = f"{path}.{os.getpid()}.partial"
    try:
        with open(partial, "wb") as file:
            file.write(content)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _json_scalar(value):
    """numpy scalars (e.g. ``np.int64`` parameters from a grid) as the Python numbers they are."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def read_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`write_file`: its arrays and its metadata.

    Only data are read: safetensors parses a JSON header and raw array bytes, and the metadata is
    JSON, so nothing in the file can execute code.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a skattr file, or is corrupted or truncated.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    try:
        with safe_open(path, framework="np") as file:
            header = (file.metadata() or {}).get(_METADATA_KEY)
            arrays = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as error:
        raise ValueError(
            f"{path!r} is not a readable skattr file (corrupted or truncated?): {error}"
        ) from error
    try:
        metadata = json.loads(header) if header is not None else None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path!r} has a corrupted skattr header: {error}") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FILE_FORMAT:
        raise ValueError(
            f"{path!r} is a safetensors file but not one saved by xCEBRAAttributor.save."
        )
    if metadata.get("format_version") != FILE_FORMAT_VERSION:
        raise ValueError(
            f"{path!r} has file format version {metadata.get('format_version')!r}; this skattr "
            f"reads version {FILE_FORMAT_VERSION}."
        )
    return arrays, metadata
