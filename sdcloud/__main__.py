"""`python -m sdcloud` is the `sdcloud` command."""

from sdcloud.cli import main

main()
