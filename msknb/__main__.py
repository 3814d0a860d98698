import sys

from msknb.cli import main

sys.exit(main())
