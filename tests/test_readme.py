"""The README's commands, run as written, so the README cannot drift from the code.

Every ```sh block of README.md runs, in order, in one bash session (set -euo pipefail) in a scratch
directory where `.venv` and `examples` are the repository's. A block may be skipped only with a
`<!-- not run: why -->` line just above it. Three adjustments, and only these: port 8080 becomes a
free port; after a line that starts `cpnet serve ... &` in the background the session waits for
the server's /healthz; and at the end every background process is stopped. A ```text block just
below `<!-- output of the block above -->` must equal what the block above printed. A ```yaml block
that starts `# sites.yaml` must load as a sites file, and code below `<!-- path/to/file.py -->` must
be that file's.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpnet.executors.sites import load_sites_file

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARK = "@@README-BLOCK {}@@"
SERVE_IN_BACKGROUND = re.compile(r"^\S*cpnet serve\b.*&\s*(#.*)?$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Block:
    lang: str
    text: str
    line: int  # of the opening fence
    note: str  # the line just above the fence, if it is an HTML comment


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m is None:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        above = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        out.append(Block(m.group(1), "\n".join(body) + "\n", start + 1, above if above.startswith("<!--") else ""))
        i += 1
    return out


def script(runnable: list[Block], port: int) -> str:
    parts = [
        "set -euo pipefail",
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT",
        'wait_for_server() { for _ in $(seq 600); do .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" '
        '"$1/healthz" 2>/dev/null && return 0; sleep 0.1; done; echo "the README\'s server did not start" >&2; return 1; }',
    ]
    for n, b in enumerate(runnable):
        parts.append(f"echo '{MARK.format(n)}'")
        for line in b.text.replace("8080", str(port)).splitlines():
            parts.append(line)
            if SERVE_IN_BACKGROUND.match(line.strip()):
                parts.append(f"wait_for_server http://127.0.0.1:{port}")
    return "\n".join(parts) + "\n"


def test_every_sh_block_is_run_or_says_why_not() -> None:
    found = [b for b in blocks(README.read_text()) if b.lang in ("sh", "bash", "console", "shell")]
    assert found, "README has no command blocks"
    for b in found:
        assert b.lang == "sh", f"README.md:{b.line}: command blocks are ```sh (the test runs those)"
        if b.note.startswith("<!-- not run"):
            assert re.match(r"<!-- not run: .{10,} -->", b.note), f"README.md:{b.line}: say why it is not run"


def test_code_shown_from_a_file_is_that_file() -> None:
    shown = [b for b in blocks(README.read_text()) if re.fullmatch(r"<!-- [\w./-]+\.py -->", b.note)]
    assert shown, "the README shows no example file"
    for b in shown:
        path = ROOT / b.note.removeprefix("<!-- ").removesuffix(" -->")
        assert b.text.strip() in path.read_text(), f"README.md:{b.line}: not the code of {path.name} any more"


def test_sites_file_examples_load(tmp_path: Path) -> None:
    examples = [b for b in blocks(README.read_text()) if b.lang == "yaml" and b.text.startswith("# sites.yaml")]
    assert examples, "the README shows no sites file"
    for n, b in enumerate(examples):
        path = tmp_path / f"sites{n}.yaml"
        path.write_text(b.text)
        assert load_sites_file(str(path)), f"README.md:{b.line}"


@pytest.mark.timeout(600)
def test_readme_commands_run_as_written(reachable_tmp: Path) -> None:
    all_blocks = blocks(README.read_text())
    runnable = [b for b in all_blocks if b.lang == "sh" and not b.note.startswith("<!-- not run")]
    expected: dict[int, str] = {}  # index in runnable -> the output shown below it
    for i, b in enumerate(all_blocks):
        if b.lang == "text" and b.note == "<!-- output of the block above -->":
            above = all_blocks[i - 1]
            assert above in runnable, f"README.md:{b.line}: the output is of a block that is not run"
            expected[runnable.index(above)] = b.text
    work = Path(tempfile.mkdtemp(dir=reachable_tmp))  # local jobs run as tenant users: their workspaces must be reachable
    os.chmod(work, 0o711)
    for name in (".venv", "examples"):
        (work / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPNET_", "RAY_ADDRESS"))}
    env |= {"HOME": str(work), "CPNET_CONFIG": str(work / "no-config.yaml")}
    run = subprocess.run(["bash", "-c", script(runnable, free_port())], cwd=work, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, f"the README's commands failed (exit {run.returncode}):\n--- stdout\n{run.stdout[-6000:]}\n--- stderr\n{run.stderr[-6000:]}"
    outputs = re.split(r"^@@README-BLOCK \d+@@\n", run.stdout, flags=re.M)[1:]
    assert len(outputs) == len(runnable)
    for n, shown in expected.items():
        assert outputs[n] == shown, f"README.md:{runnable[n].line}: the shown output differs from what the commands print:\n{outputs[n]}"
