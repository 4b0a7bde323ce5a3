"""``python -m service.cli``: the same command as the installed ``jifen`` script."""

import sys

from service.cli import main

sys.exit(main())
