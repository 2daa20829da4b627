"""``kwatch demo``: the embedded demo cluster."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from kwatch.cli import UsageError, _Parser


def build_demo_parser() -> _Parser:
    p = _Parser(
        prog="kwatch demo",
        description="Run kwatch's embedded demo cluster: an in-process Kubernetes API "
        "server on 127.0.0.1 (real REST + watch protocol) with simulated nodes.",
    )
    p.add_argument("--serve", action="store_true",
                   help="run the cluster for other clients (kubectl, kwatch) until Ctrl-C")
    p.add_argument("--kubeconfig-out", metavar="PATH",
                   help="write a kubeconfig for the served cluster here")
    p.add_argument("--nodes", type=int, default=3, metavar="N", help="simulated nodes (default 3)")
    p.add_argument("--port", type=int, default=0, metavar="PORT",
                   help="port on 127.0.0.1 (default: a free one)")
    return p


async def serve(port: int, nodes: int, kubeconfig_out: str | None) -> int:
    from kwatch.demo.apiserver import DemoApiServer
    from kwatch.headless import wait_until_stopped

    server = DemoApiServer(port=port)
    await server.start()
    try:
        server.add_nodes(nodes)
        if kubeconfig_out:
            server.write_kubeconfig(kubeconfig_out)
            where = f"kubeconfig written to {kubeconfig_out}"
        else:
            where = "pass --kubeconfig-out PATH to get a kubeconfig"
        print(f"kwatch demo cluster serving at {server.url} ({nodes} nodes); {where}. "
              "Ctrl-C to stop.", file=sys.stderr, flush=True)
        await wait_until_stopped(None)
        return 0
    finally:
        await server.stop()


def run_demo_command(argv: Sequence[str]) -> int:
    args = build_demo_parser().parse_args(list(argv))
    if args.nodes < 0 or args.nodes > 1000:
        raise UsageError("--nodes must be between 0 and 1000")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    if not args.serve:
        raise UsageError("demo scenarios are not available yet; use 'kwatch demo --serve'")
    return asyncio.run(serve(args.port, args.nodes, args.kubeconfig_out))
