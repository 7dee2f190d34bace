"""`python -m cacop_cli` runs cacop, as the `cacop` command does (Windows analysts often
have Python's launcher on PATH before pip's Scripts folder)."""

from . import main

main()
