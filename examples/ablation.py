"""The ablation ladder of "Classifying Fashion-MNIST with Gluon" as one resumable command.

    python examples/ablation.py                      # the seed's ladder: 50/50/50/100 epochs
    python examples/ablation.py --quick              # a smoke run on a subset (a minute or two)
    python examples/ablation.py --rungs bn,dropout,augment --epochs 10 --repeats 3
    python examples/ablation.py --list               # the rungs and what they change
    python examples/ablation.py --help               # every option

Writes into --out (default runs/ablation): results.json, results.md, curves_<rung>.png,
ladder_val_accuracy.png and best_vs_seed.png. Run the same command again to skip finished rungs
and resume an interrupted one from its last checkpoint; Ctrl-C (or SIGTERM) leaves every file
consistent. The same command is installed as `fmnist-gluon ladder`; the rungs themselves are
data in fmnist_gluon/ladder.py (RUNGS), the runner is fmnist_gluon.ladder.run_ladder.
"""
import sys

from fmnist_gluon.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python examples/ablation.py", command="ladder"))
