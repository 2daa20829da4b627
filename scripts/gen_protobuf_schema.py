"""Generate kwatch/demo/api/protobuf_schema.json from Kubernetes' generated.proto files.

    python scripts/gen_protobuf_schema.py           # (re)write the schema
    python scripts/gen_protobuf_schema.py --check   # fail if it is out of date

Why: ``kubectl create deployment|namespace|service|configmap|secret …`` sends its
object as protobuf (client-go's typed clients prefer it), so the demo API server
decodes protobuf request bodies (kwatch/demo/api/protobuf.py). The decoder needs, per
message, field number → (JSON name, type). That table comes from the .proto files of
k8s.io/api and k8s.io/apimachinery, fetched with ``go mod download`` (the same
Kubernetes version as scripts/build-controlplane.sh builds); the output is committed,
so demo users need no Go. Only messages reachable from what the demo serves are kept.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "kwatch" / "demo" / "api" / "protobuf_schema.json"
K8S_VERSION = "0.36.1"  # k8s.io/api and apimachinery of Kubernetes v1.36.1
API_PACKAGES = ("core/v1", "apps/v1", "discovery/v1", "events/v1", "coordination/v1",
                "policy/v1", "autoscaling/v1")
MACHINERY_PACKAGES = ("pkg/apis/meta/v1", "pkg/runtime", "pkg/runtime/schema",
                      "pkg/util/intstr", "pkg/api/resource")
# What a client may POST / PUT to the demo server.
ROOTS = [f"k8s.io.api.core.v1.{k}" for k in (
    "Namespace", "Node", "Pod", "Service", "Endpoints", "Event", "ServiceAccount",
    "ConfigMap", "Secret", "Binding")] + [f"k8s.io.api.apps.v1.{k}" for k in (
        "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ControllerRevision")] + [
    "k8s.io.api.discovery.v1.EndpointSlice", "k8s.io.api.events.v1.Event",
    "k8s.io.api.coordination.v1.Lease", "k8s.io.api.policy.v1.Eviction",
    "k8s.io.api.autoscaling.v1.Scale", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "k8s.io.apimachinery.pkg.runtime.Unknown",
]
SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"}

_FIELD = re.compile(
    r"^(?:(optional|repeated|required)\s+)?(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)"
    r"\s+(\w+)\s*=\s*(\d+)\s*(?:\[[^\]]*\])?\s*;$")


def module_dirs() -> tuple[Path, Path]:
    """Where k8s.io/api and k8s.io/apimachinery are (downloaded if they are not)."""
    mods = [f"k8s.io/api@v{K8S_VERSION}", f"k8s.io/apimachinery@v{K8S_VERSION}"]
    proc = subprocess.run(["go", "mod", "download", "-json", *mods], capture_output=True,
                          text=True, check=False, cwd=REPO / "scripts")
    dirs = [json.loads(doc).get("Dir", "") for doc in re.split(r"(?m)^(?=\{)", proc.stdout)
            if doc.strip()]
    if proc.returncode != 0 or len(dirs) != 2 or not all(dirs):
        raise SystemExit(f"go mod download {' '.join(mods)} failed:\n{proc.stdout}{proc.stderr}")
    return Path(dirs[0]), Path(dirs[1])


def proto_files(api: Path, machinery: Path) -> list[Path]:
    return ([api / p / "generated.proto" for p in API_PACKAGES]
            + [machinery / p / "generated.proto" for p in MACHINERY_PACKAGES])


_GO_STRUCT = re.compile(r"^type (\w+) struct \{")
_GO_FIELD = re.compile(r"^\s+(?:\w+\s+)?(\S+)\s+`([^`]*)`")
_GO_TAG = re.compile(r'protobuf:"\w+,(\d+)[,"]')
_GO_JSON = re.compile(r'json:"([^,"]*)')


def go_fields(directory: Path, package: str) -> dict[tuple[str, str], tuple[bool, str]]:
    """(message, field number) → (is a Go pointer, JSON name), from the Go structs'
    tags. Why: every optional proto field looks alike, but Go marshals a non-pointer
    field even when it is zero (so zero there means "unset"), a pointer only when set."""
    out: dict[tuple[str, str], tuple[bool, str]] = {}
    for path in sorted(directory.glob("*.go")):
        if path.name.endswith("_test.go"):
            continue
        struct = ""
        for line in path.read_text().splitlines():
            if m := _GO_STRUCT.match(line):
                struct = m.group(1)
                continue
            m = _GO_FIELD.match(line)
            if not m or not struct:
                continue
            tag = _GO_TAG.search(m.group(2))
            if tag is None:
                continue
            json_name = _GO_JSON.search(m.group(2))
            out[(f"{package}.{struct}", tag.group(1))] = (
                m.group(1).startswith("*"), json_name.group(1) if json_name else "")
    return out


def parse(text: str) -> dict[str, dict[str, list[str]]]:
    """message full name → {field number: [name, type, label]} (label o / r / m)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = [ln.split("//", 1)[0].strip() for ln in text.splitlines()]
    package = next(ln.split()[1].rstrip(";") for ln in lines if ln.startswith("package "))
    messages: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for ln in lines:
        if not ln or ln.startswith(("syntax ", "syntax=", "package ", "import ", "option ")):
            continue
        if m := re.match(r"^message\s+(\w+)\s*\{$", ln):
            if current is not None:
                raise ValueError(f"nested message {m.group(1)} in {package}")
            current = messages.setdefault(f"{package}.{m.group(1)}", {})
            continue
        if ln == "}":
            current = None
            continue
        if current is None:
            raise ValueError(f"unexpected line outside a message in {package}: {ln}")
        m = _FIELD.match(ln)
        if m is None:
            raise ValueError(f"unparsed field line in {package}: {ln}")
        label, typ, key_type, value_type, name, number = m.groups()
        if key_type:
            current[number] = [name, f"{key_type},{_qualify(value_type, package)}", "m"]
        else:
            current[number] = [name, _qualify(typ, package), "r" if label == "repeated" else "o"]
    return messages


def _qualify(typ: str, package: str) -> str:
    if typ in SCALARS:
        return typ
    return typ[1:] if typ.startswith(".") else f"{package}.{typ}"


def reachable(messages: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
    keep: dict[str, dict[str, list[str]]] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        if name not in messages:
            raise ValueError(f"message {name} not found in the .proto files")
        keep[name] = messages[name]
        for _, typ, label in messages[name].values():
            types = typ.split(",") if label == "m" else [typ]
            todo.extend(t for t in types if t not in SCALARS)
    return {k: keep[k] for k in sorted(keep)}


def build(files: list[Path]) -> str:
    messages: dict[str, dict[str, list[str]]] = {}
    go: dict[tuple[str, str], tuple[bool, str]] = {}
    for path in files:
        found = parse(path.read_text())
        messages.update(found)
        if found:
            package = next(iter(found)).rsplit(".", 1)[0]
            go.update(go_fields(path.parent, package))
    # Label "p": optional and a Go pointer, so a zero that arrives was set on purpose
    # (replicas: 0). JSON names come from the json tags where they differ (none do in
    # v1.36, but the tags are what the apiserver's JSON uses).
    for message, fields in messages.items():
        for number, field in fields.items():
            pointer, json_name = go.get((message, number), (False, ""))
            if json_name not in ("", "-") and json_name != field[0]:
                field[0] = json_name
            if field[2] == "o" and pointer:
                field[2] = "p"
    doc = {
        "_source": f"k8s.io/api and k8s.io/apimachinery v{K8S_VERSION} generated.proto, "
                   "by scripts/gen_protobuf_schema.py",
        "messages": reachable(messages),
    }
    return json.dumps(doc, indent=0, separators=(",", ":")) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the schema is out of date")
    args = ap.parse_args()
    files = proto_files(*module_dirs())
    missing = [p for p in files if not p.is_file()]
    if missing:
        print(f"missing {missing[0]}", file=sys.stderr)
        return 1
    text = build(files)
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT.relative_to(REPO)} is out of date: run {Path(__file__).name}",
                  file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(REPO)} is up to date")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)} ({len(json.loads(text)['messages'])} messages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
