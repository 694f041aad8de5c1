import sys

from dnsctl.cli import main

sys.exit(main())
