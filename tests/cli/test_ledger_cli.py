"""`cpnet ledger verify`: exit 0 with the head on an intact ledger; 1 naming the broken record."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from cpnet.cli.main import _register, app
from cpnet.control.store import Store
from cpnet.control.store.ledger import UsageRecord, append


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cpnet.db'}"
    store = Store(url)
    store.migrate()
    with store.engine.begin() as c:
        append(
            c,
            [
                UsageRecord(float(i), "t", "attempt", f"j{i}", 1, "a", "V100", 1, 0.0, 1.0, 1.0, 1.0, 0.0, "estimated", 0.0, "v", 1.0, 0.0, 0.0, 1.0)
                for i in range(3)
            ],
        )
    store.close()
    return url


def test_verify_reports_ok_then_the_changed_record(tmp_path: Path) -> None:
    _register()
    url = _db(tmp_path)
    ok = CliRunner().invoke(app, ["ledger", "verify", "--db", url, "--json"])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert (out["ok"], out["records"], out["head_seq"], out["first_break"]) == (True, 3, 3, None)
    store = Store(url)
    with store.engine.begin() as c:
        c.execute(text("update ledger set tenant_id = 'u' where seq = 2"))
    store.close()
    bad = CliRunner().invoke(app, ["ledger", "verify", "--db", url])
    assert bad.exit_code == 1
    assert bad.output.strip() == "ledger broken at record 2 (changed): record 2's contents no longer match its hash"
