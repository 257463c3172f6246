"""The command line: ``python -m bpnet compare`` trains bpnet and scikit-learn side by side."""

import sys

from bpnet._cli import main

if __name__ == "__main__":
    sys.exit(main())
