import sys

from archscout.cli import main

sys.exit(main())
