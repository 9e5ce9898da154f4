"""`python -m bgmatte` runs the command line."""

from bgmatte.host_bridge.cli import main

raise SystemExit(main())
