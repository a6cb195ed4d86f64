import sys

from recsys_cli.cli.app import entry

sys.exit(entry())
