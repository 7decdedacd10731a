"""``wattprint report | compare | watch``, and the live-view flags that ``run`` shares.

* ``report [RUN] --format md|html|json|latex|modelcard [-o FILE] [--per N --unit NAME]
  [--scope machine|process]``: render a stored run (id, prefix, ``last``) or a run JSON file
  (``wattprint run --json``); ``--scope process`` makes the SCI and the model card count the
  run's process-tree share of the machine.
* ``compare RUN RUN ... [--name NAME]``: side by side, differences against the first,
  mean ± 95 % CI for runs that share a name.
* ``watch``: track the whole machine, no command, until Ctrl-C (or ``--duration``);
  recorded as a run like any other.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import (
    add_db,
    add_location,
    add_sensors,
    check_output,
    end_run,
    file_arg,
    load_settings,
    number_arg,
    open_store,
)
from wattprint.settings import DAY_S

REPORT_ROWS = 5000  # timeline rows read for a report other than JSON (html.MAX_EMBEDDED_ROWS)
FORMATS = ("md", "html", "json", "latex", "modelcard")
_EXT = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json", ".tex": "latex",
        ".yaml": "modelcard", ".yml": "modelcard"}
DEFAULT_PROGRESS_S = 30.0


# -- live-view flags, shared with ``wattprint run`` -----------------------------------------


def add_live_options(p: argparse.ArgumentParser) -> None:
    """``--live/--no-live`` and ``--progress-every N`` (``--quiet`` is the command's own)."""
    p.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live view of power, energy and CO2e on stderr (default: on when stderr is a terminal)",
    )
    p.add_argument(
        "--progress-every",
        type=number_arg(0.0, DAY_S, "seconds"),
        default=DEFAULT_PROGRESS_S,
        metavar="N",
        help=f"without the live view, one progress line on stderr every N seconds (0: none; "
        f"default {DEFAULT_PROGRESS_S:g})",
    )


def start_live(args: argparse.Namespace, tracker: Any, *, child_output: bool = True) -> Any:
    """Add the live view (or progress lines, or nothing) to ``tracker`` as a sink; returns it.

    Call it once the tracker runs; the returned sink's ``stop()`` ends the view
    early (it also ends by itself when the run is finished).
    """
    from wattprint.report.live import choose_mode
    from wattprint.sinks.live import LiveSink

    every = getattr(args, "progress_every", DEFAULT_PROGRESS_S)
    live = getattr(args, "live", None)
    # the command inherits our stdout and stderr: if either is the view's terminal, the
    # view keeps to the bottom line so it never draws over the command's output
    fds = (1, 2) if child_output else ()
    mode = choose_mode(live, bool(getattr(args, "quiet", False)), sys.stderr, every, output_fds=fds)
    sink = LiveSink(mode=mode, stream=sys.stderr, progress_every_s=every, force_terminal=live is True)
    tracker.add_sink(sink)
    return sink


# -- report ---------------------------------------------------------------------------------


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="render a run as Markdown, HTML, JSON, LaTeX or a model-card block",
        description="Render a stored run (or a run JSON file) in a format to paste or archive.",
    )
    p.add_argument("run", nargs="?", default="last", help="run id, unique prefix, 'last', or a run .json file")
    p.add_argument("--format", "-f", choices=FORMATS, help="output format (default: from -o's extension, else md)")
    p.add_argument("-o", "--output", type=file_arg, help="file to write (default: stdout)")
    p.add_argument("--per", type=float, metavar="N", help="functional units produced (SCI: gCO2e per unit)")
    p.add_argument("--unit", metavar="NAME", help="name of the functional unit, e.g. samples, tokens")
    p.add_argument("--embodied-g", type=float, dest="embodied_g", metavar="G",
                   help="embodied emissions share M for the SCI, in grams CO2e (default 0)")
    p.add_argument("--scope", choices=("machine", "process"), default="machine",
                   help="what the SCI's E and the model card count: the whole machine (default) or the "
                        "run's process-tree share of it (needs the run's attribution)")
    p.add_argument("--training-type", choices=("pre-training", "fine-tuning"),
                   help="model-card training_type field")
    add_db(p)
    p.set_defaults(func=handle_report)

    p = sub.add_parser(
        "compare",
        help="compare runs side by side (mean ± 95%% CI for runs sharing a name)",
        # argparse %-formats a sub-command's help (hence %%) but prints its description as written
        description="Compare stored runs: figures side by side, differences against the first run, and "
        "mean ± 95% confidence interval (Student t) for runs that share a name.",
    )
    p.add_argument("runs", nargs="*", help="run ids, prefixes or 'last'")
    p.add_argument("--name", action="append", default=[], help="add every stored run with this name")
    p.add_argument("--format", "-f", choices=("text", "md", "json"), default="text")
    p.add_argument("-o", "--output", type=file_arg, help="file to write (default: stdout)")
    add_db(p)
    p.set_defaults(func=handle_compare)

    p = sub.add_parser(
        "watch",
        help="measure the whole machine until Ctrl-C, recorded as a run",
        description="Track the whole machine with no command until Ctrl-C (or --duration), then print the "
        "summary and store the run.",
    )
    p.add_argument("--name", help="run name (default: watch)")
    p.add_argument("--interval", type=float, help="seconds between samples (0.01 to 3600; default 1)")
    p.add_argument("--duration", type=number_arg(0.0, 3650 * DAY_S, "seconds", lo_open=True), metavar="S",
                   help="stop by itself after S seconds")
    p.add_argument("--no-store", action="store_true", help="do not save the run in the database")
    p.add_argument("--quiet", "-q", action="store_true", help="no live view, progress or summary")
    p.add_argument("--json", metavar="FILE", type=file_arg, help="also write the run as JSON to FILE")
    add_live_options(p)
    add_location(p)
    add_sensors(p)
    add_db(p)
    p.set_defaults(func=handle_watch)


def _load_run(args: argparse.Namespace, ref: str, max_rows: int | None = None) -> dict[str, Any]:
    """A run from a JSON file or the store; ``max_rows``: read a stored timeline merged to
    about that many rows (streamed, so a week at 1 s never sits in memory)."""
    path = Path(ref)
    if ref.endswith(".json") or (path.is_file() and not ref.isalnum()):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read {ref}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{ref} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict) or "channels" not in data or "duration_s" not in data:
            raise UsageError(f"{ref} is not a wattprint run (write one with 'wattprint run --json FILE')")
        from wattprint.tracking.record import check_run_record

        problem = check_run_record(data)
        if problem:
            raise UsageError(f"{ref} is not a readable wattprint run: {problem}")
        return data
    from wattprint.store.sqlite import StoreError

    store = open_store(args)
    try:
        return store.get_run(ref, max_rows=max_rows)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def render_report(run: dict[str, Any], fmt: str, **kw: Any) -> str:
    """Render ``run`` in ``fmt`` (one of :data:`FORMATS`); keyword args go to ``build_report``."""
    from wattprint.report.schema import build_report

    training_type = kw.pop("training_type", None)
    report = build_report(run, **kw)
    scope = kw.get("scope", "machine")
    if fmt == "json":
        # ASCII only: \u escapes parse the same, and control or bidi characters never reach a terminal raw
        return json.dumps(report, indent=2, allow_nan=False) + "\n"
    if fmt == "md":
        from wattprint.report import markdown

        return markdown.render(report)
    if fmt == "html":
        from wattprint.report import html

        return html.render(report)
    if fmt == "latex":
        from wattprint.report import latex

        return latex.render(report)
    from wattprint.report import modelcard

    return modelcard.render(report, training_type=training_type, scope=scope)


def handle_report(args: argparse.Namespace) -> int:
    from wattprint.report.modelcard import ModelCardError
    from wattprint.report.schema import ReportError

    fmt = args.format
    if fmt is None:
        fmt = _EXT.get(Path(args.output).suffix.lower(), "md") if args.output else "md"
    if args.unit is not None and not args.unit.strip():
        raise UsageError("--unit must name the functional unit, e.g. --unit samples")
    check_output(args, args.output)
    # every format but JSON (which gives each row as recorded) reads the timeline merged
    run = _load_run(args, args.run, None if fmt == "json" else REPORT_ROWS)
    try:
        text = render_report(
            run, fmt, per=args.per, unit=args.unit, embodied_g=args.embodied_g, training_type=args.training_type,
            scope=args.scope,
        )
    except (ReportError, ModelCardError) as exc:
        raise UsageError(str(exc)) from None
    _write(text, args.output)
    return 0


# -- compare --------------------------------------------------------------------------------


def handle_compare(args: argparse.Namespace) -> int:
    from wattprint.report import compare as cmp
    from wattprint.store.jobs import is_partial
    from wattprint.store.sqlite import StoreError

    check_output(args, args.output)
    store = open_store(args)
    try:
        ids: list[str] = []
        for ref in args.runs:
            ids.append(store.resolve_id(ref))
        for name in args.name:
            # a distributed job is its merged view: its ranks' partial runs are not repeats
            found = [r["id"] for r in reversed(store.list_runs()) if r["name"] == name and not is_partial(r)]
            if not found:
                raise UsageError(f"no stored run is named '{name}' (see 'wattprint runs')")
            ids += found
        ids = list(dict.fromkeys(ids))  # each run once, in the order first named
        runs = [store.get_run(i) for i in ids]
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    try:
        result = cmp.compare(runs)
    except cmp.CompareError as exc:
        raise UsageError(str(exc)) from None
    render = {"text": cmp.render_text, "md": cmp.render_markdown, "json": cmp.render_json}[args.format]
    _write(render(result), args.output)
    return 0


# -- watch ----------------------------------------------------------------------------------


def handle_watch(args: argparse.Namespace) -> int:
    from wattprint.intensity.base import LocationError
    from wattprint.tracking.tracker import Tracker

    settings = load_settings(args, tags={"mode": "watch"})
    if not settings.is_set("name"):
        settings = settings.with_arguments({"name": "watch"}, {"name": "default for watch"})
    check_output(args, getattr(args, "json", None), settings)
    if settings.get("store"):
        open_store(args, settings, write=True).close()  # fail now, not after an hour of watching
    try:
        tracker = Tracker(settings=settings)
    except LocationError as exc:
        raise UsageError(str(exc)) from None

    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, _on_signal)
    try:
        tracker.start()
        if not args.quiet:
            print("wattprint: watching the whole machine; Ctrl-C to stop", file=sys.stderr)
        view = start_live(args, tracker, child_output=False)
        try:
            deadline = None if args.duration is None else time.monotonic() + args.duration
            while not done.wait(0.2):  # short waits so a signal is seen promptly everywhere
                if deadline is not None and time.monotonic() >= deadline:
                    break
        finally:
            view.stop()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    end_run(tracker, args, status="finished")
    return 0
