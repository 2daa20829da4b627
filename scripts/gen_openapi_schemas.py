"""Generate kwatch/demo/api/openapi_schemas.json.gz from a real kube-apiserver.

    python scripts/gen_openapi_schemas.py           # (re)write it
    python scripts/gen_openapi_schemas.py --check   # fail if it is out of date

Why: ``kubectl explain`` reads the OpenAPI v3 schemas a server publishes. The demo API
server serves the same ones as Kubernetes v1.36.1 for the group-versions it has: this
script starts the control plane scripts/build-controlplane.sh builds, reads
``/openapi/v3/<group-version>`` for each, and keeps their ``components.schemas`` (paths
are the demo's own). Each schema is stored once (the few that differ between
group-versions once per variant) with what each group-version publishes, gzipped with
no timestamp so the output is reproducible.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kwatch.demo.api.registry import Registry  # noqa: E402
from kwatch.testing.controlplane import ControlPlane  # noqa: E402

OUT = REPO / "kwatch" / "demo" / "api" / "openapi_schemas.json.gz"


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def fetch(cp: ControlPlane, path: str) -> Any:
    status, body = cp.request("GET", f"/openapi/v3/{path}", timeout=60)
    if status != 200 or not isinstance(body, dict):
        raise SystemExit(f"GET /openapi/v3/{path}: HTTP {status}")
    return body


def build() -> bytes:
    pool: dict[str, Any] = {}
    published: dict[str, dict[str, str]] = {}  # group-version → name → key in pool
    with ControlPlane() as cp:
        for group, version in Registry().groups():
            path = gv_path(group, version)
            names = published[path] = {}
            for name, schema in fetch(cp, path)["components"]["schemas"].items():
                # Most schemas are the same in every group-version; a few (DeleteOptions:
                # its group-version-kinds) differ, and get a key of their own.
                key, n = name, 1
                while key in pool and pool[key] != schema:
                    n += 1
                    key = f"{name}#{n}"
                pool[key] = schema
                names[name] = key
    doc = {"_source": "kube-apiserver v1.36.1 /openapi/v3, by scripts/gen_openapi_schemas.py",
           "published": published, "schemas": {k: pool[k] for k in sorted(pool)}}
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=9, mtime=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = ap.parse_args()
    data = build()
    if args.check:
        current = gzip.decompress(OUT.read_bytes()) if OUT.is_file() else b""
        if current != gzip.decompress(data):
            print(f"{OUT.relative_to(REPO)} is out of date: run {Path(__file__).name}",
                  file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(REPO)} is up to date")
        return 0
    OUT.write_bytes(data)
    print(f"wrote {OUT.relative_to(REPO)} ({len(data) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
