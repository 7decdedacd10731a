"""The notebook magics in a real notebook, run by nbclient on a real IPython kernel.

RAPL is faked at the boundary (a powercap tree the notebook's cells bump), so
every figure shown under a cell is known exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fake_rapl import make_tree
from realparts import need_module

pytestmark = pytest.mark.timeout(180)

BURN = '''import os
def burn(joules):
    p = os.path.join(os.environ["WATTPRINT_RAPL_ROOT"], "intel-rapl:0", "energy_uj")
    v = int(open(p).read())
    with open(p, "r+") as fh:
        fh.write(f"{v + int(joules * 1e6)}\\n")
'''


def _notebook(db: Path) -> Any:
    import nbformat

    cells = [
        "%load_ext wattprint",
        BURN,
        "%%wattprint first --no-store --country FR --refresh 0.1\n"
        "burn(5)\nwattprint_span.step(3, tokens=30)\nimport time; time.sleep(0.8)",
        "print(wattprint_span.energy_j, wattprint_span.tokens, wattprint_span.status)",
        f"%wattprint start nb --country FR --db {db}",
        "%%wattprint train --quiet\nburn(3)\nwattprint_span.step(2)",
        "burn(1)\n%wattprint status",
        "%wattprint stop",
        "print(wattprint_run.energy_j, [(w.name, w.energy_j, w.steps) for w in wattprint_run.windows])",
        "%%wattprint --bogus\npass",
        "%%wattprint broken --no-store --quiet\nburn(2)\nraise ValueError('boom')",
        "print(wattprint_span.status, wattprint_span.energy_j)",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for cell in nb.cells[-3:-1]:  # the bad option and the failing cell
        cell.metadata["tags"] = ["raises-exception"]
    return nb


def _texts(cell: Any, kind: str) -> str:
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            out.append(o.data.get(kind, ""))
    return "".join(out)


def test_magics_in_a_notebook_show_live_and_final_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_module("nbclient", "pip install nbclient nbformat ipykernel (.ci/setup.d/31-frameworks.sh)")
    need_module("ipykernel", "pip install ipykernel (.ci/setup.d/31-frameworks.sh)")
    from nbclient import NotebookClient

    rapl = make_tree(tmp_path / "pc", packages=1, dram=True)
    monkeypatch.setenv("WATTPRINT_RAPL_ROOT", str(rapl))
    monkeypatch.setenv("WATTPRINT_GPUS", "none")
    monkeypatch.setenv("WATTPRINT_NO_CLOUD_PROBE", "1")
    db = tmp_path / "runs.db"
    updates: list[str] = []

    class Client(NotebookClient):  # type: ignore[misc]
        def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
            updates.append(msg["content"]["data"].get("text/html", ""))
            super()._update_display_id(display_id, msg)

    nb = _notebook(db)
    Client(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = nb.cells
    # the cell magic: a run of its own, shown under the cell, refreshed while it ran, final at the end
    shown = _texts(cells[2], "text/html")
    assert "wattprint run" in shown and "finished" in shown and "5 J" in shown and "per token (30)" in shown
    assert len(updates) >= 3 and "running" in updates[0] and "finished" in updates[-1]
    assert _texts(cells[3], "text/plain").split() == ["5.0", "30", "finished"]
    # a run across cells: the magic cell is a window of it; status shows it live; stop stores it
    assert _texts(cells[5], "text/html") == ""  # --quiet
    assert "running" in _texts(cells[6], "text/html") and "4 J" in _texts(cells[6], "text/html")
    assert "finished" in _texts(cells[7], "text/html")
    assert _texts(cells[8], "text/plain").strip() == "4.0 [('train', 3.0, 2)]"
    from wattprint.store.sqlite import SqliteStore

    store = SqliteStore.open(db)
    try:
        stored = store.get_run("last")
    finally:
        store.close()
    assert stored["name"] == "nb" and stored["energy_j"] == pytest.approx(4.0)
    assert [(w["name"], w["energy_j"]) for w in stored["windows"]] == [("train", pytest.approx(3.0))]
    assert stored["tags"] == {"framework": "jupyter"}
    # a bad option: one line (IPython shows a UsageError without a traceback)
    err = [o.text for o in cells[9].outputs if o.output_type == "stream" and o.name == "stderr"]
    assert [e.strip() for e in err] == ["UsageError: %wattprint: unrecognized arguments: --bogus"]
    # a cell that raises: its traceback as usual, its run ended and marked failed
    assert [o.ename for o in cells[10].outputs if o.output_type == "error"] == ["ValueError"]
    assert _texts(cells[11], "text/plain").split() == ["failed", "2.0"]
    for cell in cells:  # notebooks get HTML, never terminal escape codes
        for o in cell.outputs:
            assert "\x1b[" not in str(o.get("text", "")) + str(o.get("data", ""))
