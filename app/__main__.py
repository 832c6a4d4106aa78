"""``python -m app`` is the ``genesys-reports`` command."""

import sys

from app.cli import main

sys.exit(main())
