"""`python -m stemcast.cli` (the tests run the command line this way)."""

import sys

from stemcast.cli import main

sys.exit(main())
