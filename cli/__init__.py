"""The command line: argparse and printing for each `overnight` subcommand; they connect to Ray.

May import every other package.
"""
