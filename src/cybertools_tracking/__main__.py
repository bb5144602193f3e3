"""``python -m cybertools_tracking``: the command line, see ``cli``."""

import sys

from cybertools_tracking.cli import main

if __name__ == '__main__':
    sys.exit(main())
