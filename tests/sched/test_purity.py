"""src/cpnet/sched/ must not do I/O or read the clock: check its imports and calls with ast."""

import ast
from pathlib import Path

import pytest

import cpnet.sched

SCHED = Path(cpnet.sched.__file__).parent
FORBIDDEN_MODULES = {
    "os",
    "io",
    "time",
    "datetime",
    "pathlib",
    "socket",
    "subprocess",
    "random",
    "shutil",
    "tempfile",
    "glob",
    "sys",
    "urllib",
    "http",
    "requests",
    "httpx",
    "sqlite3",
    "sqlalchemy",
    "logging",
    "threading",
    "multiprocessing",
    "asyncio",
    "pickle",
    "json",
    "csv",
    "yaml",
}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}
MODULES = sorted(SCHED.rglob("*.py"))


def test_walks_the_sched_package():
    names = {p.name for p in MODULES}
    assert {"runner.py", "feasibility.py", "rounds.py", "maxmin_lp.py", "fifo.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SCHED)))
def test_no_io_or_clock(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in FORBIDDEN_MODULES, (path, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            assert node.module.split(".")[0] not in FORBIDDEN_MODULES, (path, node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, (path, node.func.id, node.lineno)
