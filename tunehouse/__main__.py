import sys

from tunehouse.cli.main import main

sys.exit(main())
