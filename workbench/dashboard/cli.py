"""``python -m workbench dashboard``: the Panel dashboards on a local port.

``dashboard results/ [more results folders]``: the comparison dashboard (runs, cells, charts,
summary, log explorer). ``dashboard --live URL|RUN``: the live view of a running ingestor (its
HTTP URL) or of the scenario writing the run folder RUN. Both can be served at once, at ``/``
and ``/live``. Everything is served from this process (BokehJS and Panel's assets included):
no network needed. Prints ``[READY] dashboard http://HOST:PORT/`` once it serves; ``/healthz``
answers ``{"/healthz": true}`` while the server runs. Behind a published port other than its own
(Docker), ``BOKEH_ALLOW_WS_ORIGIN=host:port,...`` names the origins whose browsers may connect.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "dashboard",
        help="Panel dashboards: compare result runs and explore their logs, or watch a live run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", nargs="*", type=Path, help="results folders (a run, or a folder of runs)")
    p.add_argument("--live", metavar="URL|RUN", help="ingestor HTTP URL or a run folder being written")
    p.add_argument("--collector", metavar="URL", help="a collector's HTTP URL, shown in the live view")
    p.add_argument("--interval-ms", type=int, default=1000, help="live refresh interval (default 1000)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5006, help="port (default 5006; 0 picks a free one)")
    p.add_argument("--show", action="store_true", help="open a browser")
    p.set_defaults(func=run)


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def run(args: argparse.Namespace) -> int:
    from workbench.errors import ConfigError

    if not args.results and not args.live:
        raise ConfigError("dashboard: give results folders, --live URL|RUN, or both")
    for root in args.results:
        from workbench.analysis.results import find_runs

        if not find_runs(root):
            raise ConfigError(f"dashboard: no results folders in {root}")
    if args.live and not args.live.startswith(("http://", "https://")) and not Path(args.live).is_dir():
        raise ConfigError(f"dashboard --live: {args.live} is neither a URL nor a folder")

    import panel as pn

    from workbench.dashboard.compare import compare_app
    from workbench.dashboard.live import live_app

    apps: dict[str, Any] = {}
    if args.results:
        apps["/"] = compare_app(list(args.results))
    if args.live:
        apps["/live" if args.results else "/"] = live_app(args.live, args.collector, args.interval_ms)
    port = args.port or _free_port(args.address)
    origins = [f"{args.address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    # liveness: Panel's handler at /healthz, the probe path of every service (Docker's healthcheck)
    server = pn.serve(apps, port=port, address=args.address, show=False, start=False, title="workbench",
                      websocket_origin=origins, liveness="healthz")  # fmt: skip
    server.start()
    for path in apps:
        print(f"[READY] dashboard http://{args.address}:{port}{path}", flush=True)
    if args.show:
        import webbrowser

        webbrowser.open(f"http://{args.address}:{port}/")
    # SIGTERM (docker stop, compose down, a supervisor) stops it as Ctrl+C does, exit 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> None:
    """The ``dashboard`` verb alone (``python -m workbench.dashboard.cli``)."""
    from workbench.cli import main as workbench_main

    workbench_main(["dashboard", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
