"""``python -m jewelnet_utils.cli``: the same as the ``jewelnet`` console script."""

import sys

from . import main

sys.exit(main())
