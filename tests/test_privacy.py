"""Secrets in command lines are masked before a run keeps them; --no-command keeps none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wattprint
from fake_rapl import make_tree
from wattprint.privacy import MASK, is_secret_name, mask_command, mask_text

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train.py", "--password=hunter2"], ["train.py", "--password=***"]),
        (["train.py", "--password", "hunter2", "--lr", "0.1"], ["train.py", "--password", "***", "--lr", "0.1"]),
        (["x", "--hf-token", "hf_abc", "--api-key=k"], ["x", "--hf-token", "***", "--api-key=***"]),
        (["env", "AWS_SECRET_ACCESS_KEY=abc", "token=t", "secret=s"],
         ["env", "AWS_SECRET_ACCESS_KEY=***", "token=***", "secret=***"]),
        (["curl", "-H", "Authorization: Bearer sk-1"], ["curl", "-H", "Authorization: ***"]),
        (["curl", "-H", "X-Trace: Bearer sk-1"], ["curl", "-H", "X-Trace: Bearer ***"]),
        (["git", "clone", "https://bob:pw@example.com/r.git"], ["git", "clone", "https://***@example.com/r.git"]),
        (["psql", "postgresql://u:p@db:5432/x?sslmode=require&password=p2"],
         ["psql", "postgresql://***@db:5432/x?sslmode=require&password=***"]),
        (["sh", "-c", "python x.py --token abc --epochs 3"], ["sh", "-c", "python x.py --token *** --epochs 3"]),
    ],
)
def test_secret_shapes_are_masked(argv: list[str], expected: list[str]) -> None:
    assert mask_command(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "gen.py", "--max-tokens", "512", "--tokenizer", "gpt2", "--num_tokens=7"],
        ["python", "train.py", "--no-password", "data.csv", "--key", "value"],
        ["ls", "-la", "/tmp/a=b", "https://example.com/path?page=2"],
    ],
)
def test_ordinary_arguments_are_kept_as_given(argv: list[str]) -> None:
    assert mask_command(argv) == argv


def test_secret_names() -> None:
    assert all(map(is_secret_name, ["--password", "HF_TOKEN", "--api-key", "client_secret", "Authorization"]))
    assert not any(map(is_secret_name, ["--max-tokens", "--tokenizer", "--sort-key", "--no-token", "--passes"]))


_secret = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="!#$%()*+,/:<>?@[]^_{|}~"),
                  min_size=4)


@given(name=st.sampled_from(["--password", "--token", "--api-key", "DB_PASSWORD", "secret", "--hf-token"]),
       value=_secret, prefix=st.text(max_size=20))
def test_a_secret_value_never_survives(name: str, value: str, prefix: str) -> None:
    assert mask_command([prefix, f"{name}={value}"])[1:] == [f"{name}={MASK}"]  # type: ignore[index]
    if name.startswith("-"):  # an option's value may also be the next argument
        assert mask_command([prefix, name, value])[1:] == [name, MASK]  # type: ignore[index]


@given(st.text())
def test_mask_text_is_idempotent_and_never_fails(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once
    assert MASK in once or once == text


def test_a_tracked_run_keeps_the_masked_command_or_none(tmp_path: Path) -> None:
    rapl = make_tree(tmp_path / "pc")
    kw = dict(rapl_root=rapl, store=False, gpus="none", country="FR")
    t1 = wattprint.Tracker(command=["train", "--password=hunter2"], **kw)  # type: ignore[arg-type]
    t2 = wattprint.Tracker(command=["train", "--password=hunter2"], store_command=False, **kw)  # type: ignore[arg-type]
    run, run2 = t1.start(), t2.start()
    t1.stop()
    t2.stop()
    assert run.command == ["train", "--password=***"] and "hunter2" not in run.name
    assert run2.command is None and "hunter2" not in run2.name and "train" not in run2.name


def test_cli_stores_and_prints_the_masked_command_and_no_command_on_request(tmp_path: Path) -> None:
    rapl = str(make_tree(tmp_path / "pc"))
    env = dict(os.environ, PYTHONPATH=SRC)
    db = str(tmp_path / "p.db")

    def wp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True,
                              text=True, env=env, timeout=60)

    out = tmp_path / "r.json"
    r = wp("run", "--db", db, "--rapl-root", rapl, "--json", str(out), "--", sys.executable, "-c", "pass",
           "--password=hunter2", "--token", "tok123")
    assert r.returncode == 0, r.stderr
    r2 = wp("run", "--db", db, "--rapl-root", rapl, "--no-command", "--", sys.executable, "-c", "pass",
            "--password=hunter2")
    assert r2.returncode == 0, r2.stderr
    shown = wp("show", r.stderr.split()[2], "--db", db).stdout + wp("runs", "--db", db).stdout
    for text in (r.stderr, out.read_text(), shown, r2.stderr, Path(db).read_bytes().decode("latin-1")):
        assert "hunter2" not in text and "tok123" not in text
    assert json.loads(out.read_text())["command"][-3:] == ["--password=***", "--token", "***"]
    assert "--password=***" in shown
