"""``python -m sim``: the same as the ``brainsim`` command."""

import sys

from sim.cli import main

sys.exit(main())
