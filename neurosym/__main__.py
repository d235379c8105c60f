"""``python -m neurosym`` runs the command line."""

import sys

from neurosym.cli import main

sys.exit(main())
