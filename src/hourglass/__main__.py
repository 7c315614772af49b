import sys

from hourglass.cli.main import main

if __name__ == "__main__":  # `python -m hourglass`; importing this module (docs tools do) runs nothing
    sys.exit(main())
