import sys

from dnsctl.cli.main import main

sys.exit(main())
