"""`overnight hlx ...`: convert values, transliterate programs, diagnose inputs and grade answers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from hlx import ls
from hlx.checker import CHECK_FORMATS, PROGRAM_TRACKS, check
from hlx.errors import HLXError
from hlx.formats import FORMATS, convert, detect_format, normalize_format
from hlx.lexer import skip_trivia
from hlx.program import parse_program
from hlx.transliterate import to_ascii, to_runic

HLX_EPILOG = """\
examples:
  overnight hlx convert --to lc-r '{14: {@0: 123}}'
  overnight hlx transliterate --to hlx prog.hlxl > prog.hlx
  overnight hlx diagnose --format lc-t '{C:14,0=}'
  overnight hlx check --format hlxl --reference '[1, 2]' '[1,2]'
"""
CONVERT_EPILOG = """\
examples:
  overnight hlx convert --to lc-b '[1, 2]'                 -> 05 01 01 01 02 06
  overnight hlx convert --from lc-t --to hlxl '{C:14,0=1}'  -> {14: {@0: 1}}
  echo '⟁docs' | overnight hlx convert --to hlxl -          -> &h_docs
Bad input exits 2 with the error line `E_NAME (code) at <offset>: <reason>` on stderr.
"""
TRANSLITERATE_EPILOG = """\
examples:
  overnight hlx transliterate --to hlx prog.hlxl     'let x = &h_docs |> ...' -> '⊢ x = ⟁docs ▷ ...'
  overnight hlx transliterate --to hlxl - < prog.hlx
Only keywords, the pipe and handle prefixes change; comments and strings are copied untouched, so
transliterating back gives the input exactly. An input that is not a valid program exits 2.
"""
DIAGNOSE_EPILOG = """\
examples:
  overnight hlx diagnose '[1, 2'          -> E_UNEXPECTED_TOKEN (1101) at 5: expected ']' or ',', ... (exit 1)
  overnight hlx diagnose --format hlx-program -  < prog.hlx
Exit 0 when the input is OK, 1 when an error was printed, 2 for bad usage.
"""
CHECK_EPILOG = """\
examples:
  overnight hlx check --format lc-t --reference '{C:14,0=1}' '{C:14, 0=1}'
  overnight hlx check --format diagnostic --reference 'OK' 'OK'
Prints {"valid": ..., "correct": ..., "error": ..., "canonical": ...} and exits with the grade:
  0  the answer is valid FMT and correct (the reference's value, program, diagnosis or text)
  1  the answer is valid FMT but wrong
  2  bad usage: an unknown FMT, a missing argument, or a reference that is not valid FMT itself
  3  the answer is not valid FMT
"""
CHECK_CORRECT, CHECK_WRONG, CHECK_USAGE, CHECK_INVALID = 0, 1, 2, 3
STDIN = "-"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hlx` and its subcommands (convert, transliterate, diagnose, check) to the CLI."""
    hlx = subparsers.add_parser(
        "hlx", help="the HLX toolkit: convert, transliterate, diagnose, check",
        description="Work with HLX values and programs (see HLX_SPEC.md).",
        epilog=HLX_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hlx.set_defaults(func=_print_help(hlx))
    commands = hlx.add_subparsers(dest="hlx_command", metavar="COMMAND")

    conv = _subcommand(commands, "convert", "rewrite a value in another format (canonical output)",
                       CONVERT_EPILOG, _convert)
    conv.add_argument("--from", dest="source", type=_value_format, metavar="FMT",
                      help=f"format of TEXT, one of {', '.join(FORMATS)} (any case); detected when omitted")
    conv.add_argument("--to", required=True, type=_value_format, metavar="FMT",
                      help=f"format to write, one of {', '.join(FORMATS)} (any case)")
    conv.add_argument("text", metavar="TEXT", help="the value, or - to read it from standard input")

    translit = _subcommand(commands, "transliterate", "rewrite a program in the other track (HLXL <-> HLX)",
                           TRANSLITERATE_EPILOG, _transliterate)
    translit.add_argument("--to", required=True, type=str.lower, choices=("hlx", "hlxl"),
                          help="target track: hlx (runic) for an HLXL input, hlxl (ASCII) for an HLX input")
    translit.add_argument("file", nargs="?", default=STDIN, metavar="FILE",
                          help="program file to read (UTF-8), or - for standard input (the default)")

    diag = _subcommand(commands, "diagnose", "print OK or the first error of a value or program",
                       DIAGNOSE_EPILOG, _diagnose)
    diag.add_argument("--format", type=_diagnose_format, metavar="FMT",
                      help=f"one of {', '.join(FORMATS)}, hlxl-program, hlx-program (any case); when "
                           "omitted, a text starting with 'program' or '⟠' is a program, anything else a "
                           "value in its detected format")
    diag.add_argument("text", metavar="TEXT", help="the input, or - to read it from standard input")

    grade = _subcommand(commands, "check", "grade an answer against a reference (prints a JSON verdict)",
                        CHECK_EPILOG, _check)
    grade.add_argument("--format", required=True, type=_check_format, metavar="FMT",
                       help=f"expected format, one of {', '.join(CHECK_FORMATS)} (any case)")
    grade.add_argument("--reference", required=True, metavar="REF", help="the reference answer")
    grade.add_argument("output", metavar="OUTPUT", help="the answer to grade, or - for standard input")


def _subcommand(commands: argparse._SubParsersAction, name: str, summary: str, epilog: str,
                handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                                 epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=handler)
    return parser


def _print_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


def _value_format(name: str) -> str:
    try:
        return normalize_format(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _diagnose_format(name: str) -> str:
    normal = name.strip().lower()
    if normal in PROGRAM_TRACKS:
        return normal
    try:
        return normalize_format(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err}, hlxl-program or hlx-program") from err


def _check_format(name: str) -> str:
    normal = name.strip().lower()
    if normal not in CHECK_FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {name!r}; use one of {', '.join(CHECK_FORMATS)}")
    return normal


def _argument_text(text: str) -> str:
    """TEXT itself, or standard input for `-` (less the one newline that `echo` adds)."""
    if text != STDIN:
        return text
    data = sys.stdin.read()
    return data[:-1] if data.endswith("\n") else data


def _fail(command: str, message: object) -> int:
    print(f"{message}" if isinstance(message, HLXError) else f"hlx {command}: {message}", file=sys.stderr)
    return 2


def _convert(args: argparse.Namespace) -> int:
    try:
        print(convert(_argument_text(args.text), args.to, args.source))
    except HLXError as err:
        return _fail("convert", err)
    return 0


def _transliterate(args: argparse.Namespace) -> int:
    if args.file == STDIN:
        code = sys.stdin.read()
    else:
        try:
            with open(args.file, encoding="utf-8", newline="") as handle:
                code = handle.read()
        except (OSError, UnicodeDecodeError) as err:
            return _fail("transliterate", f"cannot read {args.file!r} ({err}); pass an existing UTF-8 "
                                          "program file, or - to read standard input")
    try:
        sys.stdout.write(to_runic(code) if args.to == "hlx" else to_ascii(code))
    except HLXError as err:
        return _fail("transliterate", err)
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    text = _argument_text(args.text)
    fmt = args.format or _guess_format(text)
    if fmt not in PROGRAM_TRACKS:
        diagnosis = ls.diagnose(text, fmt)
    else:
        try:
            parse_program(text, PROGRAM_TRACKS[fmt])
            diagnosis = "OK"
        except HLXError as err:
            diagnosis = str(err)
    print(diagnosis)
    return 0 if diagnosis == "OK" else 1


def _guess_format(text: str) -> str:
    start = skip_trivia(text, 0)
    if text.startswith("program", start):
        return "hlxl-program"
    if text.startswith("⟠", start):
        return "hlx-program"
    return detect_format(text)


def _check(args: argparse.Namespace) -> int:
    reference = check(args.reference, args.reference, args.format)
    if not reference.valid:
        return _fail("check", f"--reference is not a valid {args.format} answer ({reference.error}); "
                              "pass the expected answer in that format")
    verdict = check(_argument_text(args.output), args.reference, args.format)
    print(json.dumps(verdict.to_dict(), ensure_ascii=False))
    if not verdict.valid:
        return CHECK_INVALID
    return CHECK_CORRECT if verdict.correct else CHECK_WRONG
