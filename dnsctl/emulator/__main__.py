import sys

from dnsctl.emulator.command import main

sys.exit(main())
