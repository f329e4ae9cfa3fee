"""The three shipped corpora as specs: which task families, formats and shapes each one draws."""

from __future__ import annotations

from functools import partial

from hlx import tasks_ls
from hlx.tasks_common import PROGRAM_SHAPES, VALUE_SHAPES, CorpusSpec, Family, Maker, family
from hlx.tasks_explain import EXPLAIN_SHAPES, make_explain
from hlx.tasks_programs import make_transliterate, make_validate_program
from hlx.tasks_values import make_convert, make_parse, make_validate

ALL_FORMATS: tuple[str, ...] = ("hlxl", "lc-t", "lc-r", "lc-b")
ASCII_FORMATS: tuple[str, ...] = ("hlxl", "lc-t")
RUNIC_FORMATS: tuple[str, ...] = ("lc-r",)
LS_TASKS: tuple[str, ...] = ("diagnose", "hover", "complete", "rename", "format", "infer")


def _values(*makers: Maker) -> tuple[tuple[str, ...], tuple[Maker, ...]]:
    return VALUE_SHAPES, makers


def _programs(*makers: Maker) -> tuple[tuple[str, ...], tuple[Maker, ...]]:
    return PROGRAM_SHAPES, makers


def _ls_families(value_formats: tuple[str, ...], program_formats: tuple[str, ...]) -> list[Family]:
    """The six LS operations on the given value formats and program tracks."""
    families = []
    for task in LS_TASKS:
        value_makers = tuple(partial(tasks_ls.VALUE_MAKERS[task], fmt=fmt) for fmt in value_formats)
        lanes = [(tasks_ls.VALUE_SHAPES_BY_TASK.get(task, VALUE_SHAPES), value_makers)]
        program_maker = tasks_ls.PROGRAM_MAKERS.get(task)
        if program_maker is not None and program_formats:
            lanes.append(_programs(*(partial(program_maker, fmt=fmt) for fmt in program_formats)))
        families.append(family(task, *lanes))
    return families


def _phase1_general() -> CorpusSpec:
    families = [
        family("convert", _values(partial(make_convert, sources=ALL_FORMATS, targets=ALL_FORMATS))),
        family("parse", _values(partial(make_parse, sources=("lc-t", "lc-r", "lc-b")))),
        family("validate", _values(partial(make_validate, formats=ALL_FORMATS)),
               _programs(partial(make_validate_program, fmt="hlxl-program"),
                         partial(make_validate_program, fmt="hlx-program"))),
        family("transliterate", _programs(partial(make_transliterate, target="hlx-program"),
                                          partial(make_transliterate, target="hlxl-program"))),
        *_ls_families(("hlxl", "lc-t", "lc-r"), ("hlxl-program", "hlx-program")),
        family("explain", (EXPLAIN_SHAPES, (make_explain,))),
    ]
    return CorpusSpec("phase1_general", None, tuple(families))


def _ascii_specialist() -> CorpusSpec:
    families = [
        family("convert", _values(partial(make_convert, sources=ASCII_FORMATS, targets=ASCII_FORMATS))),
        family("parse", _values(partial(make_parse, sources=("lc-t",)))),
        family("validate", _values(partial(make_validate, formats=ASCII_FORMATS)),
               _programs(partial(make_validate_program, fmt="hlxl-program"))),
        family("transliterate", _programs(partial(make_transliterate, target="hlxl-program"))),
        *_ls_families(ASCII_FORMATS, ("hlxl-program",)),
    ]
    return CorpusSpec("ascii_specialist", "ascii", tuple(families))


def _runic_specialist() -> CorpusSpec:
    families = [
        family("convert", _values(partial(make_convert, sources=ASCII_FORMATS, targets=RUNIC_FORMATS))),
        family("parse", _values(partial(make_parse, sources=RUNIC_FORMATS))),
        family("validate", _values(partial(make_validate, formats=RUNIC_FORMATS)),
               _programs(partial(make_validate_program, fmt="hlx-program"))),
        family("transliterate", _programs(partial(make_transliterate, target="hlx-program"))),
        *_ls_families(RUNIC_FORMATS, ("hlx-program",)),
    ]
    return CorpusSpec("runic_specialist", "runic", tuple(families))


CORPUS_SPECS: tuple[CorpusSpec, ...] = (_phase1_general(), _ascii_specialist(), _runic_specialist())
CORPUS_NAMES: tuple[str, ...] = tuple(spec.name for spec in CORPUS_SPECS)
