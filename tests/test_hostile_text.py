"""Hostile user text through every output format, each output parsed back by a real parser.

A run whose every piece of user text (name, id, tags, command, host, CPU and GPU
model, channel, window, intensity source and location, warnings, faults,
attribution and baseline notes) is an injection string is rendered in every
format, and compared with the same run holding a plain word instead: the
parsed structure (Markdown tokens, HTML elements, LaTeX control sequences, YAML
keys, CSV rows, terminal lines) must be the same, and the text must read back.
"""

from __future__ import annotations

import copy
import csv
import html as html_lib
import io
import json
import os
import re
import subprocess
import sys
import time
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from fake_rapl import make_tree
from report_sample import START, gpu_run
from wattprint.report import compare, html, latex, markdown, modelcard
from wattprint.report.escape import (
    _TEX as _TEX_MAP,
)
from wattprint.report.escape import (
    TEX_ACTIVE,
    csv_cell,
    html_text,
    md_code,
    md_text,
    one_line,
    term_text,
    tex_text,
    yaml_quote,
)
from wattprint.report.live import LiveState, LiveView
from wattprint.report.schema import build_report
from wattprint.report.text import run_table, summary

SRC = str(Path(__file__).resolve().parents[1] / "src")
PLAIN = "plain"
HOSTILE = [
    "run\n# Injected heading\n\n<div>raw html</div>",
    "</td><script>alert(1)</script>",
    '=HYPERLINK("http://x","click")',
    "\\input{/etc/passwd}\n\\immediate\\write18{id}",
    "\x1b]0;title\x07 and \x1b[2J and \x9b31m",
    "name\nfoo: bar\n---\n- list",
    "{{ template }} {% tag %} $x^2_i$ ~ & # %",
    "nul\x00byte\x7fdel",
    "\u202eevil\u2066 \u2028line\u2029para",
    "x" * 5000,
    "[link](http://x) <http://y> ![img](http://z) *em* _u_ `code` | pipe ~~s~~ &amp;",
    "1. one\n> quote\n    indented\n| a | b |\n|---|---|",
    "@SUM(1+1)",
    "-2+3",
    "\t=1\r=2",
]
GPU = "gpu:GPU-8f2c1d3e-0000-4000-8000-00000000abcd"
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _rename(obj: Any, old: str, new: str) -> Any:
    """``obj`` with every dict key ``old`` renamed ``new`` (a channel renamed everywhere)."""
    if isinstance(obj, dict):
        return {(new if k == old else k): _rename(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rename(v, old, new) for v in obj]
    return obj


def hostile_run(text: str) -> dict[str, Any]:
    """The sample GPU run with ``text`` in every place user or machine text can reach."""
    run = _rename(gpu_run(), "psys", text)
    ch = run["channels"][text]
    ch.update(name=text, component=text, method=text, detail=text)
    run["channels"][GPU]["detail"] = f"{text} {GPU[4:]}: total energy counter"
    run.update(name=text, id=text, status=text, command=["python", text, f"--note={text}"],
               tags={text: text, "model": text}, host=text, cpu_model=text,
               faults=[{"wall": START + 1, "source": text, "message": text}])
    run["windows"][0]["name"] = text
    run["intensity"].update(location=text, source=text, warnings=[text], chain=[text], market_source=text,
                            pue_source=text)
    run["attribution"]["channels"]["cpu:package-0"]["method"] = text
    run["baseline"].update(source=text, notes=[text])
    run["sensors"][0].update(detail=text, fix=text)
    return run


def report_of(text: str) -> dict[str, Any]:
    return build_report(hostile_run(text), now=START)


# -- Markdown ----------------------------------------------------------------------------------

MD = MarkdownIt("commonmark").enable("table")
MD_INLINE_ACTIVE = {"html_inline", "link_open", "image", "em_open", "strong_open", "code_inline", "s_open",
                    "hardbreak", "softbreak"}


def md_shape(text: str) -> list[tuple[str, ...]]:
    """Block tokens, and per inline token the active (non-text) children, in order."""
    shape: list[tuple[str, ...]] = []
    for t in MD.parse(text):
        kids = tuple(c.type for c in t.children or [] if c.type in MD_INLINE_ACTIVE)
        shape.append((t.type, t.tag, *kids))
    return shape


def md_texts(text: str) -> list[str]:
    return [c.content for t in MD.parse(text) for c in t.children or [] if c.type in ("text", "code_inline")]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_report_keeps_its_structure(text: str) -> None:
    plain, hostile = markdown.render(report_of(PLAIN)), markdown.render(report_of(text))
    assert md_shape(hostile) == md_shape(plain)
    tokens = MD.parse(hostile)
    assert not [t for t in tokens if t.type == "html_block"]
    heading = tokens[1].children
    assert "".join(c.content for c in heading) == "Energy report: " + one_line(text).strip()
    texts = "\n".join(md_texts(hostile))
    assert one_line(text).strip() in texts  # the name, the window, the warning ... read back whole


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_compare_keeps_its_structure(text: str) -> None:
    def render(t: str) -> str:
        a, b = hostile_run(t), hostile_run(t)
        b["id"] = "second"
        return compare.render_markdown(compare.compare([a, b]))

    plain, hostile = render(PLAIN), render(text)
    assert md_shape(hostile) == md_shape(plain)
    rows = [t for t in MD.parse(hostile) if t.type == "tr_open"]
    assert len(rows) == len([t for t in MD.parse(plain) if t.type == "tr_open"])
    cells = ["".join(c.content for c in t.children or []) for t in MD.parse(hostile) if t.type == "inline"]
    flat = one_line(text).strip()
    assert cells[1:3] == [f"{flat} {flat}", f"second {flat}"]


# -- HTML --------------------------------------------------------------------------------------


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.title = ""
        self.script = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(name for name, _ in attrs)))
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "script":
            self.script += data


def parse_html(text: str) -> _Elements:
    p = _Elements()
    p.feed(text)
    p.close()
    return p


@pytest.mark.parametrize("text", HOSTILE)
def test_html_report_has_no_injected_element(text: str) -> None:
    plain, hostile = parse_html(html.render(report_of(PLAIN))), parse_html(html.render(report_of(text)))
    assert hostile.tags == plain.tags
    assert hostile.title == "wattprint report: " + one_line(text)
    assert json.loads(hostile.script)["run"]["name"] == text  # the embedded archive keeps it exactly


# -- LaTeX -------------------------------------------------------------------------------------

# What tex_text writes for each special character: these (and only these) may hold one.
TEX_ESCAPES = re.compile("|".join(re.escape(v) for v in sorted(_TEX_MAP.values(), key=len, reverse=True)))
TEX_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}$&#^_%~\n]")


def tex_shape(text: str) -> list[str]:
    """Control sequences, active characters and line breaks of a LaTeX source, escapes left out."""
    return TEX_TOKEN.findall(TEX_ESCAPES.sub("", text))


@pytest.mark.parametrize("text", HOSTILE)
def test_latex_runs_nothing_from_the_text(text: str) -> None:
    plain, hostile = latex.render(report_of(PLAIN)), latex.render(report_of(text))
    assert tex_shape(hostile) == tex_shape(plain)
    assert not any(unicodedata.category(ch) == "Cc" for ch in hostile.replace("\n", ""))


# -- YAML (model card) -------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_model_card_yaml_has_only_its_keys(text: str) -> None:
    card = yaml.safe_load(modelcard.render(report_of(text)))
    assert list(card) == ["co2_eq_emissions"]
    block = card["co2_eq_emissions"]
    assert set(block) == {"emissions", "source", "geographical_location", "hardware_used"}
    assert block["geographical_location"] == text  # read back exactly, line breaks and all
    assert block["hardware_used"].startswith(f"1 x {text}")
    assert isinstance(block["emissions"], float)


# -- terminal ----------------------------------------------------------------------------------


def assert_terminal_safe(out: str, plain: str) -> None:
    assert out.count("\n") == plain.count("\n")
    bad = [ch for ch in out if unicodedata.category(ch) == "Cc" and ch != "\n"]
    assert not bad and not BIDI.search(out)


@pytest.mark.parametrize("text", HOSTILE)
def test_terminal_views_print_no_control_characters(text: str) -> None:
    for render in (summary, lambda r: run_table([r]),
                   lambda r: compare.render_text(compare.compare([r, dict(r, id="second")]))):
        assert_terminal_safe(render(hostile_run(text)), render(hostile_run(PLAIN)))

    def state(t: str) -> LiveState:
        return LiveState(elapsed_s=5.0, energy_j=10.0, emissions_g=1.0, power_w={t: 3.0, "cpu": 1.0},
                         energy_by_component_j={t: 7.0, "cpu": 3.0}, location=t, methods=[t])

    assert_terminal_safe(LiveView.line(state(text)), LiveView.line(state(PLAIN)))


def test_live_table_shows_rich_markup_instead_of_obeying_it() -> None:
    from rich.console import Console

    text = "[link=http://x]click[/link] [bold red]loud\x1b[2J"
    buf = io.StringIO()
    Console(file=buf, width=400, color_system=None).print(
        LiveView.table(LiveState(5.0, 10.0, 1.0, {text: 3.0}, {text: 7.0}, location=text, methods=[text]), text))
    out = buf.getvalue()
    assert "[link=http://x]click[/link] [bold red]loud" in out and "\x1b" not in out


# -- the CLI: runs, show, export CSV, report, compare on stored runs ---------------------------


def wp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=SRC), timeout=60)


CLI_NAMES = ['=HYPERLINK("http://x","y")\n# heading\x1b]0;title\x07', "\x1b[2J+cmd|' /C calc'!A0\nfoo: bar"]
FORMULA = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("hostile")
    root, db = str(make_tree(tmp / "pc", packages=1)), str(tmp / "h.db")
    for name in CLI_NAMES:
        r = wp("run", "--db", db, "--rapl-root", root, "--country", "FR", "--name", name, "--quiet", "--",
               sys.executable, "-c", "pass", "@SUM(1)", name)
        assert r.returncode == 0, r.stderr
    return db


def test_cli_csv_export_neutralises_formulas(stored: str) -> None:
    r = wp("export", "--db", stored, "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert len(rows) == 1 + len(CLI_NAMES)
    by_name = {row[rows[0].index("name")] for row in rows[1:]}
    assert by_name == {"'" + n.replace("\x1b", "\ufffd").replace("\x07", "\ufffd") if n.startswith(FORMULA)
                       else n.replace("\x1b", "\ufffd") for n in CLI_NAMES}
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA) or re.fullmatch(r"[+-]?[\d.]+(e[+-]?\d+)?", cell), cell
            assert "\x1b" not in cell


def test_cli_terminal_outputs_have_no_escape_sequences(stored: str) -> None:
    runs = wp("runs", "--db", stored)
    assert runs.returncode == 0 and len(runs.stdout.splitlines()) == 1 + len(CLI_NAMES)
    ids = [line.split()[0] for line in runs.stdout.splitlines()[1:]]
    outs = [runs.stdout, wp("compare", "--db", stored, *ids).stdout]
    outs += [wp("show", i, "--db", stored).stdout for i in ids]
    for out in outs:
        assert out and "\x1b" not in out and "\x07" not in out
        assert "\ufffd" in out  # the sequences are shown as replaced, not dropped silently


def test_cli_reports_parse_back(stored: str) -> None:
    md = wp("report", "--db", stored, "--format", "md").stdout
    assert [t.tag for t in MD.parse(md) if t.type == "heading_open"][0] == "h1"
    assert sum(t.tag == "h1" for t in MD.parse(md) if t.type == "heading_open") == 1
    card = yaml.safe_load(wp("report", "--db", stored, "--format", "modelcard").stdout)
    assert list(card) == ["co2_eq_emissions"] and "foo" not in card["co2_eq_emissions"]
    tex = wp("report", "--db", stored, "--format", "latex").stdout
    assert "\\input" not in tex and "\n#" not in tex
    cmp_md = wp("compare", "--db", stored, "--format", "md", *[r.split()[0] for r in
                wp("runs", "--db", stored).stdout.splitlines()[1:]]).stdout
    assert not [t for t in MD.parse(cmp_md) if t.type in ("heading_open", "html_block")]


def test_a_plain_report_is_unchanged_by_the_escaping() -> None:
    """The sample run has no hostile text: nothing of it is escaped or lost."""
    run = copy.deepcopy(gpu_run())
    md = markdown.render(build_report(run, now=START))
    assert "# Energy report: train-resnet50" in md and "| `python train.py --epochs 2` |" in md


# -- every escaper on arbitrary text (hypothesis) ----------------------------------------------

# Any Unicode text, text made only of the characters that mean something to some format, and the list.
MARKUP = "\\`*_[]()<>|#!-+=.)0123456789 \n\r\t&;:/~$@'\"{}%^\x00\x1b\x07\x85\u2028\u202e ax"
ANY_TEXT = (st.text(st.characters(blacklist_categories=("Cs",)), max_size=60) | st.text(MARKUP, max_size=40)
            | st.sampled_from(HOSTILE))


@given(ANY_TEXT)
def test_md_text_reads_back_as_one_paragraph_or_cell(text: str) -> None:
    flat = one_line(text).strip()
    for src, block in ((f"- {md_text(text)}\n", "paragraph_open"), (f"| h |\n|---|\n| {md_text(text)} |\n", "td_open")):
        tokens = MD.parse(src)
        blocks = [t.type for t in tokens if not t.type.endswith("_close") and t.type != "inline"]
        if block == "td_open":
            assert blocks == ["table_open", "thead_open", "tr_open", "th_open", "tbody_open", "tr_open", "td_open"]
        else:
            assert blocks == ["bullet_list_open", "list_item_open"] + ([block] if flat else []), src
        kids = [t for t in tokens if t.type == "inline"][-1].children or [] if flat else []
        assert {c.type for c in kids} <= {"text"}, src
        assert "".join(c.content for c in kids) == flat


@given(ANY_TEXT, st.booleans())
def test_md_code_reads_back_verbatim(text: str, table: bool) -> None:
    span = md_code(text, table=table)
    src = f"| h |\n|---|\n| a {span} b |\n" if table else f"a {span} b\n"
    kids = [t for t in MD.parse(src) if t.type == "inline"][-1].children or []
    codes = [c.content for c in kids if c.type == "code_inline"]
    assert codes == ([one_line(text)] if text else [])
    assert {c.type for c in kids} <= {"text", "code_inline"}


@given(ANY_TEXT)
def test_yaml_quote_reads_back_exactly(text: str) -> None:
    quoted = yaml_quote(text)
    assert "\n" not in quoted and "\r" not in quoted
    assert yaml.safe_load(f"key: {quoted}\nnext: 1\n") == {"key": text, "next": 1}
    assert json.loads(quoted) == text  # also a JSON string, as the model card always wrote


_UNTEX = {v: k for k, v in _TEX_MAP.items()}


@given(ANY_TEXT)
def test_tex_text_leaves_no_active_character(text: str) -> None:
    out = tex_text(text)
    assert not [ch for ch in TEX_ESCAPES.sub("", out) if ch in TEX_ACTIVE or unicodedata.category(ch) == "Cc"]
    back = re.sub("|".join(re.escape(k) for k in sorted(_UNTEX, key=len, reverse=True)),
                  lambda m: _UNTEX[m.group()], out)
    assert back == one_line(text, "?")


@given(ANY_TEXT | st.from_regex(r"[=+\-@\t\r][^\x00]{0,10}", fullmatch=True))
def test_csv_cell_is_never_a_formula(text: str) -> None:
    buf = io.StringIO()
    csv.writer(buf).writerow([csv_cell(text), csv_cell(-1.5), "end"])
    rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert len(rows) == 1 and rows[0][1:] == ["-1.5", "end"]  # our own negative numbers stay numbers
    cell = rows[0][0]
    assert not cell.startswith(FORMULA) or re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", cell)
    kept = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "\ufffd", text)
    assert cell in (kept, "'" + kept)


@given(ANY_TEXT)
def test_term_text_keeps_printable_text_and_drops_control(text: str) -> None:
    out = term_text(text)
    assert not [ch for ch in out if unicodedata.category(ch) in ("Cc", "Zl", "Zp")] and not BIDI.search(out)
    if not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", text) and not BIDI.search(text):
        assert out == text


@given(ANY_TEXT)
def test_html_text_is_only_text(text: str) -> None:
    p = parse_html(f"<p>{html_text(text)}</p>")
    assert p.tags == [("p", ())]
    assert html_lib.unescape(html_text(text)) == one_line(text)


# -- provider error bodies ---------------------------------------------------------------------


def _echo(method: str, path: str, h: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A provider that refuses the request and echoes every header back (as some do)."""
    sent = h.get("auth-token") or h.get("authorization", "")
    body = f"error: bad credentials\n\x1b[2J {sent} token=leaked-elsewhere {json.dumps(h)}" + " pad" * 500
    return 401, {"Content-Type": "text/plain"}, body.encode()


def test_provider_error_body_is_never_kept(tmp_path: Path) -> None:
    """What a provider says on an error (it may echo the key or the Basic header) is not kept:
    the run records a status line and a fixed message (wattprint.intensity.live.common)."""
    from local_http import LocalServer
    from wattprint.intensity.base import Intensity
    from wattprint.intensity.live.common import LiveError
    from wattprint.intensity.live.watttime import WattTime
    from wattprint.intensity.resolve import finalize

    server = LocalServer(_echo)
    try:
        env = {"ELECTRICITYMAPS_API_KEY": "em-key-0123456789", "WATTPRINT_ELECTRICITYMAPS_URL": server.url}
        base = Intensity(g_per_kwh=300.0, source="Ember", location="DE", year=2025, chain=["argument"])
        from settings_for import settings_for

        stored = finalize(base, START, START + 3600, settings=settings_for(env), cache_dir=str(tmp_path))
        with pytest.raises(LiveError) as wt:
            WattTime("ann", "s3cret-pw", "CAISO_NORTH", server.url).fetch(START, START + 3600, time.monotonic() + 5)
    finally:
        server.close()
    assert len(stored.warnings) == 1  # what the run keeps
    assert stored.warnings[0].startswith("Electricity Maps: HTTP 401, credentials refused")
    assert str(wt.value) == "WattTime: HTTP 401, credentials refused"
    for message in (stored.warnings[0], str(wt.value), *stored.chain):
        assert "bad credentials" not in message and "leaked" not in message and server.url not in message
        assert "\x1b" not in message and "\n" not in message
