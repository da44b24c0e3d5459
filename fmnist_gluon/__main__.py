"""``python -m fmnist_gluon`` is the ``fmnist-gluon`` command."""
import sys

from .cli import main

sys.exit(main())
