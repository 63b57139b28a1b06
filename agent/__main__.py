"""`python -m agent` is `iomt-agent`."""

import sys

from agent.cli import main

sys.exit(main())
