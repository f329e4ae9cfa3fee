"""HLX error codes (HLX_SPEC §5) and the HLXError exception every HLX parser and encoder raises."""

from __future__ import annotations

E_INVALID_CHAR = 1001
E_LC_PARSE = 1100
E_UNEXPECTED_TOKEN = 1101
E_FLOAT_SPECIAL = 1201
E_CONTRACT_STRUCTURE = 1202
E_FIELD_ORDER = 1301
E_DEPTH_EXCEEDED = 1302
E_SIZE_EXCEEDED = 1303

ERROR_NAMES: dict[int, str] = {
    E_INVALID_CHAR: "E_INVALID_CHAR",
    E_LC_PARSE: "E_LC_PARSE",
    E_UNEXPECTED_TOKEN: "E_UNEXPECTED_TOKEN",
    E_FLOAT_SPECIAL: "E_FLOAT_SPECIAL",
    E_CONTRACT_STRUCTURE: "E_CONTRACT_STRUCTURE",
    E_FIELD_ORDER: "E_FIELD_ORDER",
    E_DEPTH_EXCEEDED: "E_DEPTH_EXCEEDED",
    E_SIZE_EXCEEDED: "E_SIZE_EXCEEDED",
}


class HLXError(Exception):
    """An HLX input that breaks the spec.

    `offset` is a character offset into the text for the text formats and a byte offset for LC-B.
    `str(err)` is the diagnostic line the LS `diagnose` operation answers:
    ``E_NAME (code) at <offset>: <message>``.
    """

    def __init__(self, code: int, name: str, offset: int, message: str) -> None:
        # All four go to Exception.args so pickling (Ray ships exceptions across processes) keeps them.
        super().__init__(code, name, offset, message)
        self.code = code
        self.name = name
        self.offset = offset
        self.message = message

    @classmethod
    def make(cls, code: int, offset: int, message: str) -> HLXError:
        """Build an error from its code; the name is looked up in ERROR_NAMES (KeyError for unknown codes)."""
        return cls(code, ERROR_NAMES[code], offset, message)

    def __str__(self) -> str:
        return f"{self.name} ({self.code}) at {self.offset}: {self.message}"
