import sys

from face3d.cli.main import main

sys.exit(main())
