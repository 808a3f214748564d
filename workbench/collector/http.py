"""The collector's HTTP endpoints: a small live page, ``/metrics`` (Prometheus), ``/metrics.json``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from workbench.httpserve import serve

if TYPE_CHECKING:
    from workbench.collector.service import Collector

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>collector</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}h2{font-size:16px}pre{background:#f6f6f6;padding:6px}</style>
</head><body><h1>Log collector</h1><div id="top"></div><div id="tables"></div>
<script>
function table(title, obj){
  const rows = Object.entries(obj||{}).sort((a,b)=>b[1]-a[1]).map(([k,v])=>`<tr><td>${k.replace(/</g,'&lt;')}</td><td>${v}</td></tr>`).join('');
  return `<h2>${title}</h2><table>${rows||'<tr><td>none</td></tr>'}</table>`;
}
async function refresh(){
  try{
    const s = await (await fetch('metrics.json')).json();
    const t = s.totals;
    document.getElementById('top').innerHTML = `<p><b>${s.lines_per_second.toFixed(0)}</b> lines/s &middot;
      ${t.lines} lines &middot; ${t.entries} entries &middot; ${t.filtered} filtered &middot;
      ${t.parse_errors} parse errors &middot; ${s.files_watched} files</p>` +
      (s.forward ? `<p>forward: ${s.forward.connected ? 'connected' : 'disconnected'}, ${s.forward.unacked_frames} unacked frames</p>` : '');
    document.getElementById('tables').innerHTML = table('By level', s.by_level) + table('By tag', s.by_tag) +
      table('By file', s.by_file) + table('Parse errors', s.parse_errors_by_reason) +
      '<h2>Recent parse errors</h2><pre>' + s.recent_parse_errors.map(e=>JSON.stringify(e).replace(/</g,'&lt;')).join('\\n') + '</pre>';
  }catch(e){}
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""


def _app(collector: Collector) -> web.Application:
    async def index(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", charset="utf-8")

    async def metrics(_: web.Request) -> web.Response:
        body = collector.metrics.prometheus()
        return web.Response(body=body.encode(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    async def metrics_json(_: web.Request) -> web.Response:
        return web.json_response(collector.metrics.summary(), dumps=lambda o: json.dumps(o, default=str))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "files_watched": collector.metrics.files_watched})

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/metrics.json", metrics_json)
    app.router.add_get("/healthz", healthz)
    return app


async def start_http(collector: Collector, host: str, port: int) -> tuple[web.AppRunner, int]:
    return await serve(_app(collector), host, port)
