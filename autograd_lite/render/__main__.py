"""`python -m autograd_lite.render ...`: an alias of `autograd-lite render ...` (the CLI's)."""

import sys

from autograd_lite.cli.main import main

sys.exit(main(["render", *sys.argv[1:]], prog="python -m autograd_lite.render"))
