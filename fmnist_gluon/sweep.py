"""Grid or random search over a rung's spec and training parameters, locally or with Ray Tune.

A *space* maps any :class:`ladder.Rung` field (``spec``, ``optimizer``, ``lr``, ``wd``,
``batch_size``, ``augment``, ``label_smoothing``, ``epochs``, ...) to a list of values.
``search="grid"`` tries every combination; ``"random"`` draws ``num_samples`` of them (seeded).
Each combination is a *trial*: the base rung with those fields replaced, named ``trial-NN``.

- locally (``executor=None``): the trials run one after the other through the ladder's
  resumable runner, into ``OUT/rungs/trial-NN/seed-S``, so a rerun skips finished trials; any
  ``concurrent.futures`` executor or "process" runs them side by side the same way.
- on Ray (``executor="ray"`` or an address): Ray Tune runs the trials, each reporting its
  validation accuracy after every epoch; with ``asha=True`` the ASHA scheduler stops the
  unpromising ones early (``grace_period`` epochs at least).

Either way the sweep writes ``OUT/sweep.json``, ``OUT/sweep.md`` (one row per trial: its
parameters, best and final val accuracy, epochs run) and ``OUT/sweep_val_accuracy.png``.
"""
import dataclasses
import itertools
import json
import os
import random

from . import ladder, plot
from .executors import connect_ray, import_ray, make_executor, run_rungs, thread_env
from .model import build_cnn
from .train import Callback, History, fit
from .utils import atomic_write_text

DEFAULT_BASE = ladder.Rung("sweep", "baseline", "adam", 1e-3, epochs=10)


def trials(space, base=DEFAULT_BASE, search="grid", num_samples=8, seed=0):
    """The sweep's rungs: ``base`` with each chosen combination of ``space`` put in."""
    base = ladder.get_rungs([base])[0] if isinstance(base, str) else base
    fields = {f.name for f in dataclasses.fields(ladder.Rung)} - {"name", "description"}
    unknown = sorted(set(space) - fields)
    if unknown:
        raise ValueError("sweep space: %r is not a rung field; expected some of %s"
                         % (unknown[0], ", ".join(sorted(fields))))
    keys = sorted(space)
    values = [list(space[k]) if isinstance(space[k], (list, tuple)) else [space[k]] for k in keys]
    if any(not v for v in values):
        raise ValueError("sweep space: every parameter needs at least one value")
    combos = list(itertools.product(*values))
    if search == "random":
        combos = random.Random(seed).sample(combos, min(int(num_samples), len(combos)))
    elif search != "grid":
        raise ValueError("search: expected 'grid' or 'random', got %r" % (search,))
    return [dataclasses.replace(base, name="trial-%02d" % i, description=json.dumps(
        dict(zip(keys, combo)), sort_keys=True), **dict(zip(keys, combo)))
        for i, combo in enumerate(combos)]


def run_sweep(space, base=DEFAULT_BASE, search="grid", num_samples=8, out="runs/sweep",
              epochs=None, seed=0, quick=False, root=None, executor=None, address=None,
              workers=None, cpus_per_task=1, asha=True, grace_period=1, verbose=True,
              command=None):
    """Run the sweep (see the module docstring) and return its table as a list of dicts."""
    rungs = trials(space, base, search, num_samples, seed)
    if quick and epochs is None:
        epochs = ladder.QUICK["epochs"]
    train, test, _ = ladder.load_ladder_data(quick=quick, seed=seed, root=root)
    if executor == "ray" or (isinstance(executor, str) and ":" in executor) or address:
        rows = _run_tune(rungs, train, test, out, epochs, seed, executor, address, workers,
                         cpus_per_task, asha, grace_period)
    else:
        pool, owned = make_executor(executor, None, workers, cpus_per_task)
        try:
            if pool is None:
                for rung in rungs:
                    ladder.run_rung(rung, train, test, out, epochs, seed, verbose=verbose)
            else:
                run_rungs(pool, rungs, [seed], train, test, out, epochs, verbose=verbose)
        finally:
            if owned:
                pool.shutdown()
        ladder.write_report(out, command=command)
        rows = [_row(r, ladder.finished_result(out, r.name, seed)["history"]["epochs"], False)
                for r in rungs]
    write_sweep_report(out, rows, command)
    return rows


def _row(rung, epochs, stopped_early):
    """One trial's line of the table."""
    accs = [e["val_accuracy"] for e in epochs]
    return {"trial": rung.name, "params": json.loads(rung.description),
            "best_val_accuracy": max(accs), "best_epoch": accs.index(max(accs)) + 1,
            "final_val_accuracy": accs[-1], "epochs_run": len(accs),
            "stopped_early": stopped_early, "epochs": epochs}


def write_sweep_report(out, rows, command=None):
    """sweep.json, sweep.md (best first) and sweep_val_accuracy.png in ``out``."""
    os.makedirs(out, exist_ok=True)
    rows = sorted(rows, key=lambda r: -r["best_val_accuracy"])
    atomic_write_text(os.path.join(out, "sweep.json"),
                      json.dumps({"command": command, "trials": rows}, indent=1))
    keys = sorted({k for r in rows for k in r["params"]})
    lines = (["Command: `%s`" % command, ""] if command else []) + [
        "| trial | %s | best val acc %% | epoch of best | final val acc %% | epochs run |"
        % " | ".join(keys), "|---|%s---|---|---|---|" % ("---|" * len(keys))]
    for r in rows:
        lines.append("| %s | %s | %.2f | %d | %.2f | %d%s |" % (
            r["trial"], " | ".join(_cell(r["params"].get(k)) for k in keys),
            100 * r["best_val_accuracy"], r["best_epoch"], 100 * r["final_val_accuracy"],
            r["epochs_run"], " (stopped by ASHA)" if r["stopped_early"] else ""))
    atomic_write_text(os.path.join(out, "sweep.md"), "\n".join(lines) + "\n")
    histories = {}
    for r in rows:
        h = History(monitor="val_accuracy")
        for e in r["epochs"]:
            h.append(e)
        histories[r["trial"]] = h
    if histories:
        plot.plot_ladder(histories, path=os.path.join(out, "sweep_val_accuracy.png"),
                         title="sweep: validation accuracy per trial")


def _cell(value):
    return "`%s`" % value if isinstance(value, (list, dict, str)) else str(value)


# ------------------------------------------------------------------------------ Ray Tune

class TuneReport(Callback):
    """A fit callback that hands every epoch's row (its numbers) to Ray Tune, whose scheduler
    (ASHA) may then stop the trial."""

    def on_epoch_end(self, epoch, row):
        from ray import tune

        tune.report({k: float(v) for k, v in row.items() if isinstance(v, (int, float))})


def _fit_trial(config, train=None, test=None):
    """Ray Tune trainable: train one trial's rung, reporting every epoch to Tune."""
    rung = config["rung"]
    cfg = rung.config(config["epochs"])
    folder = os.path.join(config["out"], "trials", rung.name)
    fit(build_cnn(cfg["spec"]), train, val=test, epochs=cfg["epochs"],
        optimizer=rung.optimizer, lr=rung.lr, wd=rung.wd, batch_size=rung.batch_size,
        init_magnitude=rung.init_magnitude, seed=config["seed"],
        lr_scheduler=rung.lr_scheduler, augment=rung.augment,
        optimizer_params=dict(rung.optimizer_params) or None,
        label_smoothing=rung.label_smoothing, checkpoint_dir=os.path.join(folder, "checkpoint"),
        verbose=0, callbacks=[TuneReport()])


def _run_tune(rungs, train, test, out, epochs, seed, executor, address, workers,
              cpus_per_task, asha, grace_period):
    """The trials as Ray Tune trials (ASHA on val_accuracy); their rows, for the table."""
    address = address or (executor if executor not in (None, "ray") else None)
    num_cpus = int(workers) * int(cpus_per_task) if workers else None
    owned = connect_ray(address, num_cpus, runtime_env={"env_vars": thread_env(cpus_per_task)})
    import_ray()
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    out = os.path.abspath(out)
    max_t = max(r.config(epochs)["epochs"] for r in rungs)
    scheduler = ASHAScheduler(max_t=max_t, grace_period=grace_period) if asha else None
    trainable = tune.with_resources(tune.with_parameters(_fit_trial, train=train, test=test),
                                    {"cpu": int(cpus_per_task)})
    try:
        tuner = tune.Tuner(
            trainable,
            param_space={"rung": tune.grid_search(rungs), "epochs": epochs, "seed": seed,
                         "out": out},
            tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", scheduler=scheduler),
            run_config=tune.RunConfig(name="tune", storage_path=os.path.join(out, "ray"),
                                      verbose=0, failure_config=tune.FailureConfig(max_failures=3)))
        results = tuner.fit()
        rows = []
        for result in results:
            if result.error:
                raise RuntimeError("sweep trial %s failed: %s"
                                   % (result.config["rung"].name, result.error))
            frame = result.metrics_dataframe
            epochs_rows = [{k: row[k] for k in frame.columns if not k.startswith(
                ("time", "timestamp", "training_iteration", "date", "hostname", "node_ip",
                 "pid", "trial_id", "done", "iterations", "config", "checkpoint_dir_name",
                 "should_checkpoint"))} for row in frame.to_dict("records")]
            rung = result.config["rung"]
            ran = len(epochs_rows)
            rows.append(_row(rung, epochs_rows, ran < rung.config(epochs)["epochs"]))
    finally:
        if owned:
            import ray
            ray.shutdown()
    return rows
