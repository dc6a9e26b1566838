"""`python -m harness.cli`: how the MPI relaunch and the sweep benchmarks start the command line."""

import sys

from harness.cli import main

sys.exit(main())
