import sys

from hourglass.cli.main import main

sys.exit(main())
