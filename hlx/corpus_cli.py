"""`overnight corpus generate|validate`: write the shipped corpora, or check any corpus files."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hlx.corpus_gen import (
    DEFAULT_SEED,
    DEFAULT_TRAIN_SIZE,
    GeneratedCorpus,
    GenerationError,
    generate_all,
    val_size_for,
    write_generated,
)
from hlx.corpus_io import DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_TOKENS
from hlx.corpus_validate import WARNING_KINDS, ValidationReport, validate_paths

GENERATE_EPILOG = """example:
  overnight corpus generate                      # corpora/ with the default seed and size
  overnight corpus generate --out /tmp/c --seed 7 --size 500
The output is byte-for-byte reproducible from --seed and --size."""

VALIDATE_EPILOG = """examples:
  overnight corpus validate corpora/                       # every shipped corpus
  overnight corpus validate corpora/ascii_specialist       # one corpus: train.jsonl + val.jsonl
  overnight corpus validate my_seeds.jsonl --max-tokens 1024
Records may be the project's shape or the seeds' {"input", "output"}, with the templated prompt or a bare
instruction as input. Duplicates, duplicate ids, train/val leakage and overlong examples are warnings.
Exit codes: 0 no errors (warnings alone included), 1 errors found (each printed as file:line),
2 a path is unusable."""


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} must be at least 1")
    return number


def _balance(counts: Counter[str]) -> str:
    return ", ".join(f"{key} {count}" for key, count in sorted(counts.items())) or "-"


def _console() -> Console:
    console = Console()
    # Piped output has no terminal width; rich would fall back to 80 columns and fold the tables badly.
    return console if console.is_terminal else Console(width=140)


def generation_table(corpora: list[GeneratedCorpus]) -> Table:
    """Per corpus and split: records, and the task, shape and track balance."""
    table = Table(title="generated corpora", show_lines=True)
    for column in ("corpus", "split", "records", "tasks", "shapes", "tracks"):
        table.add_column(column, overflow="fold")
    for corpus in corpora:
        for split, stats in corpus.stats.items():
            table.add_row(corpus.name, split, str(stats.records), _balance(stats.tasks),
                          _balance(stats.shapes), _balance(stats.tracks))
    return table


def validation_table(report: ValidationReport) -> Table:
    """Per file: records, errors by kind, and the task balance."""
    table = Table(title="corpus validation", show_lines=True)
    for column in ("file", "records", "errors", "tasks"):
        table.add_column(column, overflow="fold")
    for summary in report.files:
        # Text() keeps a path such as `data[1].jsonl` from being read as rich markup.
        table.add_row(Text(summary.path), str(summary.records), _balance(summary.errors),
                      _balance(summary.tasks))
    for problem in report.unusable_paths:
        table.add_row(Text(problem.path), "-", f"{problem.kind} 1", "-")
    return table


def run_generate(args: argparse.Namespace) -> int:
    """Generate the three corpora into args.out; 1 when a maker cannot fill the requested size."""
    try:
        corpora = generate_all(seed=args.seed, train_size=args.size)
    except GenerationError as err:
        print(f"corpus generation failed: {err}", file=sys.stderr)
        return 1
    console = _console()
    for corpus in corpora:
        for path in write_generated(corpus, args.out):
            count = len(corpus.splits[path.stem])
            console.print(f"wrote {path} ({count} record{'' if count == 1 else 's'})", highlight=False)
    console.print(generation_table(corpora))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """Validate the named paths; prints every problem as file:line, then the summary table."""
    report = validate_paths(args.paths, max_tokens=args.max_tokens,
                           max_line_bytes=args.max_line_mb * 1_000_000,
                           check_references=not args.no_reference_check)
    console = _console()
    for problem in (*report.unusable_paths, *report.problems):
        severity = "warning" if problem.kind in WARNING_KINDS else "error"
        console.print(f"{severity}: {problem}", highlight=False, markup=False, soft_wrap=True)
    listed = len(report.problems)
    if report.error_count > listed:
        more = report.error_count - listed
        console.print(f"... {more} more problems counted in the table", highlight=False)
    console.print(validation_table(report))
    console.print(_verdict(report), highlight=False)
    return report.exit_code


def _verdict(report: ValidationReport) -> str:
    warnings = report.warning_count
    errors = report.error_count - warnings + len(report.unusable_paths)
    if errors:
        return f"{errors} error(s), {warnings} warning(s)"
    return f"OK, {warnings} warning(s)" if warnings else "OK"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `corpus generate` and `corpus validate` to the overnight CLI."""
    corpus = subparsers.add_parser("corpus", help="generate the shipped HLX corpora or validate corpus files",
                                   description="Generate the shipped HLX corpora or validate corpus files.")
    actions = corpus.add_subparsers(dest="corpus_command", required=True, metavar="{generate,validate}")

    generate = actions.add_parser(
        "generate", help="write phase1_general, ascii_specialist and runic_specialist (train/val JSONL)",
        description="Write three corpora, each train.jsonl + val.jsonl, every response computed by the "
                    "HLX toolkit.",
        epilog=GENERATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    generate.add_argument("--out", default="corpora",
                          help="directory to write <corpus>/train.jsonl and val.jsonl into "
                               "(default: corpora)")
    generate.add_argument("--seed", type=int, default=DEFAULT_SEED,
                          help="seed of the generator; same seed and size give the same bytes "
                               f"(default: {DEFAULT_SEED})")
    generate.add_argument("--size", type=_positive_int, default=DEFAULT_TRAIN_SIZE,
                          help="train records per corpus; val gets a tenth (default: "
                               f"{DEFAULT_TRAIN_SIZE} train, {val_size_for(DEFAULT_TRAIN_SIZE)} val)")
    generate.set_defaults(func=run_generate)

    validate = actions.add_parser(
        "validate", help="check corpus files: shape, length, duplicates, leakage, parseable references",
        description="Check every line of the corpus files under PATH: JSON of a known shape with no empty "
                    "field, within the token budget, no duplicate instruction, no val instruction in train, "
                    "and a reference answer that parses in the format the record names.",
        epilog=VALIDATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("paths", nargs="+", metavar="PATH",
                          help="a .jsonl file, a corpus directory (train.jsonl/val.jsonl), "
                               "or a root of corpora such as corpora/")
    validate.add_argument("--max-tokens", type=_positive_int, default=DEFAULT_MAX_TOKENS,
                          help="token budget per example; tokens are estimated as UTF-8 bytes of prompt, "
                               f"response and EOS, an upper bound for byte-level tokenizers "
                               f"(default: {DEFAULT_MAX_TOKENS})")
    validate.add_argument("--max-line-mb", type=_positive_int,
                          default=DEFAULT_MAX_LINE_BYTES // 1_000_000,
                          help="longest line read, in MB; longer lines are reported, never loaded "
                               f"(default: {DEFAULT_MAX_LINE_BYTES // 1_000_000})")
    validate.add_argument("--no-reference-check", action="store_true",
                          help="skip parsing each reference answer in its format (faster on huge corpora)")
    validate.set_defaults(func=run_validate)
