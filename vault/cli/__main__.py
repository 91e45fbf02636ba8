"""`python -m vault.cli`: the `consent-vault` command."""

import sys

from vault.cli import main

if __name__ == "__main__":
    sys.exit(main())
