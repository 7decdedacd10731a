"""User text made safe for each output format: one helper per format.

Run names, tags, command lines, host and hardware strings, window names,
intensity sources and warnings all come from outside (the user, the machine,
a provider, or a run JSON file someone handed us), so every renderer passes
each such piece through the helper of its own format, never through a
one-off ``replace``:

=================  ==========================================================
:func:`md_text`    Markdown inline text and table cells
:func:`md_code`    Markdown inline code (run ids, channel names, commands)
:func:`yaml_quote` a YAML double-quoted scalar (the model card)
:func:`tex_text`   LaTeX text (also safe inside ``%`` comments)
:func:`csv_cell`   a CSV cell, with spreadsheet formulas neutralised
:func:`term_text`  a terminal line, without control characters or ESC sequences
:func:`html_text`  HTML text and attribute values
=================  ==========================================================

Every helper returns a single line: line breaks become spaces (YAML keeps
them as escapes), so a name can never start a heading, a key or a command of
its own. Other control characters become U+FFFD (``?`` in LaTeX) except
where the format can carry them escaped (YAML). Printable Unicode is kept.
"""

from __future__ import annotations

import re
from html import escape as _html_escape

# Line and field breaks, shown as a space: C0 breaks, NEL, and the Unicode separators.
_BREAKS = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"
# Any other C0/C1 control character (and DEL).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BREAK_MAP = str.maketrans(dict.fromkeys(_BREAKS, " "))


def one_line(text: object, replacement: str = "\ufffd") -> str:
    """``text`` as one line: breaks become spaces, other control characters ``replacement``."""
    return _CONTROL.sub(replacement, str(text).translate(_BREAK_MAP))


# -- Markdown -------------------------------------------------------------------------------

# Characters with inline meaning anywhere in CommonMark/GFM text: escapes, code, emphasis,
# strikethrough, links and images, autolinks and raw HTML, entities, table pipes, math.
_MD_INLINE = re.compile(r"([\\`*_~\[\]<>|&#$])")
# What starts a block when it opens a line (a list item's text opens a line): list
# markers, block quotes, setext underlines, ordered-list numbers.
_MD_LINE_START = re.compile(r"^([-+=])|^(\d{1,9})([.)])")


def md_text(text: object) -> str:
    """Markdown inline text that renders as ``text`` (one line, trimmed) and nothing more.

    Safe in a paragraph, a heading, a list item and a table cell: no heading,
    list, quote, HTML, link, image, emphasis, code or new table cell can start
    inside it.
    """
    flat = _MD_INLINE.sub(r"\\\1", one_line(text).strip())
    return _MD_LINE_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", flat)


def md_code(text: object, *, table: bool = False) -> str:
    """An inline code span showing ``text`` verbatim (one line).

    ``table``: the span sits in a table cell, where GFM splits cells on ``|``
    even inside code, so pipes are written ``\\|`` (GFM puts them back).
    """
    body = one_line(text)
    if not body:
        return ""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    if body.startswith("`") or body.endswith("`") or (body[0] == body[-1] == " " and body.strip()):
        body = f" {body} "  # CommonMark strips one space from each side again
    if table:
        body = body.replace("|", "\\|")
    return f"{fence}{body}{fence}"


# -- YAML -----------------------------------------------------------------------------------

_YAML_SHORT = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
               "\r": "\\r"}
# What a YAML reader would refuse, fold or treat as a line break inside a scalar: control
# characters, NEL, surrogates, the line/paragraph separators, BOM and the two non-characters.
_YAML_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]')


def _yaml_char(m: re.Match[str]) -> str:
    ch = m.group()
    return _YAML_SHORT.get(ch) or f"\\u{ord(ch):04x}"


def yaml_quote(text: object) -> str:
    """``text`` as a YAML double-quoted scalar, read back exactly by any YAML loader.

    Printable characters stay as they are, everything else is escaped, so the
    result is one line and can never end the scalar, start a key or a
    document. For text without astral control characters it is also a valid
    JSON string.
    """
    return '"' + _YAML_ESCAPE.sub(_yaml_char, str(text)) + '"'


# -- LaTeX ----------------------------------------------------------------------------------

TEX_ACTIVE = "\\{}$&#^_%~"
_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # not active, but OT1 fonts print them as other glyphs (¡ ¿ —)
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
}
_TEX_TABLE = str.maketrans(_TEX)


def tex_text(text: object) -> str:
    """LaTeX text that typesets as ``text``: every active character escaped, one line.

    One line also makes it safe inside a ``%`` comment (a line break would
    end the comment and run what follows).
    """
    return one_line(text, "?").translate(_TEX_TABLE)


# -- CSV ------------------------------------------------------------------------------------

# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection"),
# full-width forms included since some spreadsheets fold them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_CSV_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never evaluates.

    Numbers (and strings that are plain numbers, such as ``-0.5``) pass
    unchanged; text starting with ``= + - @``, a tab or a line break gets a
    leading ``'``. Control characters other than tab and line breaks become
    U+FFFD (a CSV printed to a terminal must not drive it).
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = _CSV_CONTROL.sub("\ufffd", str(value))
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


# -- terminal -------------------------------------------------------------------------------

# ESC sequences: CSI (ESC [ ... final), OSC / DCS / SOS / PM / APC strings up to BEL or
# ST (or the end of the text when unterminated), then any other two- or more-byte escape.
_ESC_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
)
# Bidirectional overrides and isolates reorder what follows on the line.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def term_text(text: object) -> str:
    """A terminal line showing ``text``: each ESC sequence, control character and bidi
    override becomes one U+FFFD, line breaks become spaces, printable Unicode stays."""
    raw = _ESC_SEQUENCE.sub("\ufffd", str(text))
    return _BIDI.sub("\ufffd", one_line(raw))


# -- HTML -----------------------------------------------------------------------------------


def html_text(text: object) -> str:
    """HTML text or attribute value (``& < > " '`` escaped; control characters replaced)."""
    return _html_escape(one_line(text), quote=True)
