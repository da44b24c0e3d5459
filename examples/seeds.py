"""Every seed system (issue 18: mlp, vgg, dense, cnn1, cnn2, lenet5, cnn-dropout, MobileNet) on
the full Fashion-MNIST, resumably, with the ladder runner.

    python examples/seeds.py --repeats 3                  # every system, 3 seeds (many CPU hours)
    python examples/seeds.py --rungs dense,lenet5,cnn2 --repeats 3   # the cheap ones
    python examples/seeds.py --report                     # rebuild the report only
    python examples/seeds.py --list                       # the rungs and their settings

It is `fmnist-gluon ladder --rungs seeds --out docs/results/seeds` with those two defaults:
results.md (our mean ± std over seeds beside each system's published figure, and the Welch test
of each difference), results.json, curves_<rung>.png, ladder_val_accuracy.png and the bar chart
best_vs_seed.png. Run the same command again to skip finished rungs and resume an interrupted
one from its last checkpoint. docs/seeds.md says what each system is and how long each takes.
"""
import sys

from fmnist_gluon.cli import main

DEFAULTS = {"--out": "docs/results/seeds", "--rungs": "seeds"}

if __name__ == "__main__":
    argv = sys.argv[1:]
    for option, value in DEFAULTS.items():
        if not any(a == option or a.startswith(option + "=") for a in argv):
            argv = [option, value] + argv
    sys.exit(main(argv, prog="python examples/seeds.py", command="ladder"))
