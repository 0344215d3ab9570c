"""`python -m wxhook` is the `wxhook` command."""

import sys

from .cli import main

sys.exit(main())
