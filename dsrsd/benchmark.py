"""Run the benchmark grid of models, seeds and cutoffs, with robustness sweeps, and write the report.

    python -m dsrsd.benchmark --config benchmarks/oulad.toml [--quick]

Each finished run is stored as `runs/<id>.json` (plus its test predictions in `runs/<id>.npz`) in
the output folder, written atomically, so an interrupted grid resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dsrsd.cli import show_warnings_plainly
from dsrsd.config import GBDTConfig, LossConfig, ModelConfig, TrainConfig, config_from_dict
from dsrsd.data import MODALITIES, DataError, parse_cutoff
from dsrsd.fit import RunConfig, fit_model, save_fitted
from dsrsd.inference import predict
from dsrsd.metrics import at_risk_probability
from dsrsd.model import architecture_for
from dsrsd.pipeline import PreparedData, prepare_training_data
from dsrsd.report import write_report
from dsrsd.robustness import robustness_sweep
from dsrsd.settings import REPO_ROOT, data_root

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid."""

    group: str                  # "main" (default split) or "transfer"
    cutoff: str | int
    name: str                   # the model entry's name in the config, e.g. "early" or "no-alignment"
    kind: str                   # the `--model` value, e.g. "dsrsd" or "single:profile"
    seed: int
    run: RunConfig
    ship: bool = False          # save the checkpoint to the shipping folder

    @property
    def run_id(self) -> str:
        return f"{self.group}-{self.cutoff}-{self.name}-seed{self.seed}"


def load_config(path: Path, quick: bool) -> dict:
    """Read the TOML config, with the `[quick]` table's values replacing the protocol's when `quick` is set."""
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read benchmark config {path}: {error}") from error
    for section in ("protocol", "models"):
        if section not in config:
            raise ValueError(f"{path}: missing [{section}] table; see benchmarks/oulad.toml for the layout")
    if quick:
        overrides = dict(config.get("quick", {}))
        for key in ("out", "docs", "ship_checkpoints", "transfer"):
            if key in overrides:
                config[key] = overrides.pop(key)
        config["protocol"] = {**config["protocol"], **overrides}
        if "ship_checkpoints" not in config.get("quick", {}):
            config["ship_checkpoints"] = ""
    return config


def _run_config(entry: dict, protocol: dict, seed: int) -> RunConfig:
    architecture = architecture_for(entry["kind"], list(MODALITIES))
    train_values = {"epochs": protocol.get("epochs", TrainConfig.epochs), "patience": protocol.get("patience", TrainConfig.patience),
                    "seed": seed}
    if architecture.startswith("single:"):
        train_values["modality_dropout"] = 0.0   # as the train CLI: nothing to fall back on
    train_values.update(entry.get("train", {}))
    return RunConfig(
        architecture=architecture,
        model=config_from_dict(ModelConfig, entry.get("model", {})),
        loss=config_from_dict(LossConfig, entry.get("loss", {})),
        train=config_from_dict(TrainConfig, train_values),
        gbdt=config_from_dict(GBDTConfig, entry.get("gbdt", {})),
    )


def grid(config: dict) -> list[RunSpec]:
    """List every run of the grid, seed by seed: every model and cutoff of the first seed, then the
    transfer runs, then the next seed. An interrupted grid so has whole rounds of seeds, and within a
    seed the runs of one cutoff are together, so its data is loaded once."""
    protocol = config["protocol"]
    cutoffs = [parse_cutoff(c) for c in protocol["cutoffs"]]
    rounds: dict[int, list[RunSpec]] = {seed: [] for seed in protocol["seeds"]}
    for cutoff in cutoffs:
        for name, entry in config["models"].items():
            if "kind" not in entry:
                raise ValueError(f"model entry {name!r} has no kind; set kind = \"dsrsd\", \"early\", ...")
            allowed = [parse_cutoff(c) for c in entry.get("cutoffs", protocol["cutoffs"])]
            if cutoff not in allowed:
                continue
            seeds = [s for s in entry.get("seeds", protocol["seeds"]) if s in protocol["seeds"]] or protocol["seeds"][:1]
            for seed in seeds:
                ship = bool(entry.get("ship")) and cutoff == "end" and seed == seeds[0]
                rounds[seed].append(RunSpec("main", cutoff, name, entry["kind"], seed, _run_config(entry, protocol, seed), ship))

    transfer_specs = []
    transfer = config.get("transfer")
    if isinstance(transfer, dict):
        cutoff = parse_cutoff(transfer.get("cutoff", "end"))
        for name in transfer["models"]:
            entry = config["models"][name]
            for seed in transfer.get("seeds", [0]):
                transfer_specs.append(RunSpec("transfer", cutoff, name, entry["kind"], seed,
                                              _run_config(entry, protocol, seed)))
    ordered = []
    for index, seed in enumerate(protocol["seeds"]):
        ordered += rounds[seed] + (transfer_specs if index == 0 else [])
    return ordered


def _write_atomic(path: Path, write) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    write(staging)
    os.replace(staging, path)


def _save_arrays(path: Path, arrays: dict) -> None:
    # A file handle, because numpy appends ".npz" to a path that lacks it.
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def run_one(spec: RunSpec, data: PreparedData, noise_levels: list[float], device: torch.device,
            runs_dir: Path, ship_dir: Path | None) -> dict:
    """Train, evaluate and sweep one run, and store its record and test predictions."""
    started = time.perf_counter()
    fitted = fit_model(data, spec.run, device)
    train_seconds = time.perf_counter() - started
    test = data.encoded.subset(data.split == "test")
    sweep = robustness_sweep(fitted.model, test, noise_levels, seed=0)
    record = {
        "id": spec.run_id, "group": spec.group, "cutoff": spec.cutoff, "name": spec.name, "kind": spec.kind,
        "architecture": spec.run.architecture, "seed": spec.seed, "train_seconds": round(train_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1), "metrics": fitted.metrics, "robustness": sweep,
    }
    probabilities = predict(fitted.model, test).probabilities
    arrays = {"at_risk": at_risk_probability(probabilities).astype(np.float32), "labels": test.labels.astype(np.int8)}
    _write_atomic(runs_dir / f"{spec.run_id}.npz", lambda path: _save_arrays(path, arrays))
    if ship_dir is not None and spec.ship:
        save_fitted(ship_dir / spec.name, fitted, data, spec.run, spec.cutoff)
    _write_atomic(runs_dir / f"{spec.run_id}.json", lambda path: path.write_text(json.dumps(record, indent=1, allow_nan=True)))
    return record


def _prepared(data_dir: Path, spec: RunSpec, config: dict, cache: dict) -> PreparedData:
    modules = config["transfer"]["train_modules"] if spec.group == "transfer" else None
    key = (spec.cutoff, tuple(modules or ()))
    if key not in cache:
        cache.clear()   # one cutoff's arrays at a time
        data = prepare_training_data(data_dir, spec.cutoff, train_modules=modules)
        limit = config["protocol"].get("max_train_rows")
        if limit:
            # Keep a fixed sample of the training rows; the rest are left out of every split.
            train_rows = np.flatnonzero(data.split == "train")
            dropped = np.random.default_rng(0).permutation(train_rows)[int(limit):]
            data.split = data.split.copy()
            data.split[dropped] = "unused"
        cache[key] = data
    return cache[key]


def _resolve(path: str, base: Path) -> Path:
    return Path(path) if Path(path).is_absolute() else base / path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dsrsd.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="TOML file with the grid (see benchmarks/oulad.toml)")
    parser.add_argument("--quick", action="store_true", help="use the config's [quick] settings: one seed, one cutoff, few epochs")
    parser.add_argument("--data-dir", help="folder holding the OULAD CSV tables (default: the config's, else $DSRSD_DATA_DIR/oulad)")
    parser.add_argument("--out", help="output folder for runs, tables and figures (default: the config's)")
    parser.add_argument("--docs", help="Markdown file whose benchmark section is rewritten (default: the config's; '' for none)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: write the report from the runs already finished")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.threads < 1:
        print(f"error: invalid --threads {args.threads}: use 1 or more", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    show_warnings_plainly()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        config = load_config(Path(args.config), args.quick)
        specs = grid(config)
    except (ValueError, KeyError, TypeError) as error:
        print(f"error: invalid benchmark config {args.config}: {error}", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir or config.get("data_dir") or data_root() / "oulad")
    out = _resolve(args.out or config.get("out", "benchmarks/results/oulad"), REPO_ROOT if not args.out else Path.cwd())
    docs_value = args.docs if args.docs is not None else config.get("docs", "")
    docs = None
    if docs_value:
        docs = _resolve(docs_value, REPO_ROOT if args.docs is None else Path.cwd())
    ship_value = config.get("ship_checkpoints", "")
    ship_dir = _resolve(ship_value, REPO_ROOT) if ship_value else None
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)

    done = {spec.run_id for spec in specs if (runs_dir / f"{spec.run_id}.json").is_file()}
    todo = [] if args.report_only else [spec for spec in specs if spec.run_id not in done]
    print(f"benchmark: {len(specs)} runs, {len(done)} already done, {len(todo)} to run; results in {out}", file=sys.stderr)
    noise_levels = [float(level) for level in config["protocol"].get("noise_levels", [0.5, 1.0, 2.0])]
    device = torch.device("cpu")
    cache: dict = {}
    bar = tqdm(total=len(specs), initial=len(done), desc="benchmark", unit="run", file=sys.stderr, disable=args.quiet)
    try:
        for spec in todo:
            bar.set_postfix_str(spec.run_id)
            record = run_one(spec, _prepared(data_dir, spec, config, cache), noise_levels, device, runs_dir, ship_dir)
            bar.write(f"{spec.run_id}: test AUC {record['metrics']['test']['at_risk_auc']:.4f} in {record['seconds']:.0f}s",
                      file=sys.stderr)
            bar.update(1)
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        bar.close()

    records = [json.loads((runs_dir / f"{spec.run_id}.json").read_text()) for spec in specs
               if (runs_dir / f"{spec.run_id}.json").is_file()]
    if not records:
        print("error: no finished run to report on", file=sys.stderr)
        return 2
    write_report(records, runs_dir, out, docs, config, args)
    print(f"wrote {out / 'results.csv'}, {out / 'results.json'} and {out / 'figures'}"
          + (f", and the benchmark section of {docs}" if docs else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
