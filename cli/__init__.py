"""The command line: argparse and printing for each `overnight` subcommand (Ray is reached through
actors/connect.py; the logic lives in the packages the commands call).

May import every other package.
"""
