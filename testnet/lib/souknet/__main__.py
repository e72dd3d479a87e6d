"""`python3 -m souknet ...` (what testnet/up, down and status run): see souknet.cli."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
