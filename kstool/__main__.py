"""``python -m kstool`` = the ``kstool`` command."""

from __future__ import annotations

import sys

from kstool.cli import main

sys.exit(main())
