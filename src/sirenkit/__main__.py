"""`python -m sirenkit` runs the command line."""

import sys

from sirenkit.cli import main

sys.exit(main())
