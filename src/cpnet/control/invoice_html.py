"""An invoice as one self-contained HTML page (print it to PDF from a browser): lines, totals and a daily usage chart (inline SVG)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from html import escape

from cpnet.control.invoice import Invoice


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _chart_svg(inv: Invoice) -> str:
    """Amount billed per UTC day of the month (bars) and device-hours (line), as an SVG element."""
    # The object API, not pyplot: the server renders from several threads, and pyplot's state is global.
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    start = inv.period.start_s
    n_days = round((inv.period.end_s - start) / 86400)
    amount = [0.0] * n_days
    hours = [0.0] * n_days
    for day, usd, device_s in inv.days:
        i = (datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() - start) // 86400
        amount[int(i)] += usd
        hours[int(i)] += device_s / 3600.0
    fig = Figure(figsize=(7.5, 2.6), dpi=100)
    FigureCanvasSVG(fig)
    ax = fig.add_subplot()
    xs = list(range(1, n_days + 1))
    ax.bar(xs, amount, color="#3b6ea5", label="billed (USD)")
    ax.set_xlabel(f"day of {inv.period} (UTC)")
    ax.set_ylabel("USD")
    ax.set_xlim(0.3, n_days + 0.7)
    ax2 = ax.twinx()
    ax2.plot(xs, hours, color="#d9822b", marker=".", linewidth=1, label="device-hours")
    ax2.set_ylabel("device-hours")
    ax2.set_ylim(bottom=0)
    fig.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))  # the legend sits above the axes
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog: the SVG sits inside the HTML page


def invoice_html(inv: Invoice) -> str:
    doc = inv.to_json()
    tot = doc["totals"]
    rows = "\n".join(
        "<tr>"
        f"<td>{escape(ln['site'])}</td><td>{escape(ln['accelerator'])}</td><td class=n>{ln['runs']}</td>"
        f"<td class=n>{ln['device_h']:,.2f}</td><td class=n>{ln['cu']:,.0f}</td><td class=n>{ln['energy_kwh']:,.3f}</td>"
        f"<td class=n>{ln['kg_co2']:,.3f}</td><td class=n>{_money(ln['compute_usd'])}</td><td class=n>{_money(ln['energy_usd'])}</td>"
        f"<td class=n>{_money(ln['carbon_usd'])}</td><td class=n><b>{_money(ln['amount_usd'])}</b></td>"
        f"<td>{escape(', '.join(ln['tariffs']))}</td>"
        "</tr>"
        for ln in doc["lines"]
    )
    status = "provisional: the month is not over" if inv.provisional else "final"
    issued = datetime.fromtimestamp(inv.as_of_s, UTC).strftime("%Y-%m-%d %H:%M UTC")
    seqs = "no records" if inv.first_seq is None else f"records {inv.first_seq} to {inv.last_seq} ({inv.runs} of this tenant's)"
    chart = _chart_svg(inv) if inv.days else "<p>No usage billed in this period.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cpnet invoice {escape(inv.tenant)} {inv.period}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .meta {{ color: #555; margin-bottom: 12px; }}
table {{ border-collapse: collapse; width: 100%; margin: 8px 0 16px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; }}
th {{ background: #f3f5f8; }} td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.total td {{ border-top: 2px solid #222; font-weight: bold; }} .chart svg {{ width: 100%; height: auto; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>Invoice: tenant {escape(inv.tenant)}, {inv.period}</h1>
<div class=meta>Period {inv.period} (UTC calendar month) &middot; {status} &middot; issued {issued} &middot; amounts in USD &middot; ledger {seqs}</div>
<table>
<thead><tr><th>site</th><th>model</th><th class=n>runs</th><th class=n>device-h</th><th class=n>CU</th><th class=n>kWh</th><th class=n>kgCO2</th>
<th class=n>compute</th><th class=n>energy</th><th class=n>carbon</th><th class=n>amount</th><th>tariff</th></tr></thead>
<tbody>
{rows}
<tr class=total><td colspan=2>total</td><td class=n>{inv.runs}</td><td class=n>{tot["device_h"]:,.2f}</td><td class=n>{tot["cu"]:,.0f}</td>
<td class=n>{tot["energy_kwh"]:,.3f}</td><td class=n>{tot["kg_co2"]:,.3f}</td><td class=n>{_money(tot["compute_usd"])}</td>
<td class=n>{_money(tot["energy_usd"])}</td><td class=n>{_money(tot["carbon_usd"])}</td><td class=n>{_money(tot["amount_usd"])}</td><td></td></tr>
</tbody></table>
<div class=chart>{chart}</div>
<p class=meta>Each line sums the usage-ledger records of runs that ended in the period at that site and model; the totals are the ledger's
(`cpnet ledger verify` checks its hash chain). kWh are the facility's (device energy x PUE). CU: compute units (see `cpnet catalog`).</p>
</body></html>
"""
