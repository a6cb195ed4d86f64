import sys

from recsys_cli.cli.app import main

sys.exit(main())
