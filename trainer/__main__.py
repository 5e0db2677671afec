"""``python -m trainer``: see ``python -m trainer --help``."""

import sys

from trainer.cli.main import main

sys.exit(main())
