"""`python3 -m earshot`: the `earshot-client` command."""

from .cli import main

main()
