"""Ingest benchmark: how fast the watch engine lists and follows N realistic pods.

    python benchmarks/ingest.py --pods 50000 --events 10000

The demo API server runs in its own process (so the client's RSS and CPU are its
own); it bulk-loads N pods of ~5 KB (managedFields, labels, owner references,
containers, status). Each client run is a fresh process too:

1. kwatch: WatchEngine → Pipeline (or a dict sink if kwatch.core.pipeline is missing)
   lists the N pods; then the server makes M changes and the engine follows them.
2. kwatch vs kubernetes_asyncio on a smaller namespace: the same list + watch through
   WatchEngine with a dict sink, and through CoreV1Api models + ``Watch().stream``.

The M changes are made while the client waits between its list and its watch (its
sink blocks on a pipe), so the watch replays them as fast as the client can take them
and the events/s figure is the client's, not the server's write rate.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

JSON = dict[str, Any]
BIG_NS = "bench"
SMALL_NS = "bench-small"


# -- realistic pods ----------------------------------------------------------------------


def make_pod(i: int, namespace: str) -> JSON:
    """A pod as a Deployment's ReplicaSet makes it and a kubelet reports it (~5 KB)."""
    app = f"svc-{i // 1000:03d}"
    rs_hash = f"{(i // 50) * 2654435761 % 16**10:010x}"
    rs_name = f"{app}-{rs_hash}"
    rs_uid = f"{i // 50:08x}-1111-4222-8333-{rs_hash[:12]:0>12}"
    name = f"{rs_name}-{i:06x}"
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    node = f"node-{i % 200:03d}"
    image = f"registry.example.com/{app}/server:v1.{i % 7}.3"
    t0 = "2025-01-15T09:30:00Z"
    ctr_fields = {
        "f:image": {},
        "f:imagePullPolicy": {},
        "f:name": {},
        "f:ports": {
            ".": {},
            'k:{"containerPort":8080,"protocol":"TCP"}': {
                ".": {},
                "f:containerPort": {},
                "f:name": {},
                "f:protocol": {},
            },
        },
        "f:readinessProbe": {
            ".": {},
            "f:httpGet": {".": {}, "f:path": {}, "f:port": {}, "f:scheme": {}},
            "f:periodSeconds": {},
        },
        "f:resources": {
            ".": {},
            "f:limits": {".": {}, "f:cpu": {}, "f:memory": {}},
            "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}},
        },
        "f:env": {".": {}, 'k:{"name":"LOG_LEVEL"}': {".": {}, "f:name": {}, "f:value": {}}},
    }
    cond_fields = {
        f'k:{{"type":"{t}"}}': {
            ".": {},
            "f:lastProbeTime": {},
            "f:lastTransitionTime": {},
            "f:status": {},
            "f:type": {},
        }
        for t in ("ContainersReady", "Initialized", "Ready", "PodScheduled")
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{rs_name}-",
            "namespace": namespace,
            "uid": f"{i:08x}-aaaa-4bbb-8ccc-{i * 7919 % 16**12:012x}",
            "creationTimestamp": t0,
            "labels": {
                "app": app,
                "pod-template-hash": rs_hash,
                "tier": "backend",
                "team": f"team-{i % 13}",
                "app.kubernetes.io/version": f"1.{i % 7}.3",
            },
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
                "kubectl.kubernetes.io/restartedAt": "2025-01-15T09:29:58Z",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs_name,
                    "uid": rs_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": t0,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:generateName": {},
                            "f:labels": {
                                ".": {},
                                "f:app": {},
                                "f:pod-template-hash": {},
                                "f:team": {},
                                "f:tier": {},
                            },
                            "f:ownerReferences": {".": {}, f'k:{{"uid":"{rs_uid}"}}': {}},
                        },
                        "f:spec": {
                            "f:containers": {'k:{"name":"server"}': ctr_fields},
                            "f:dnsPolicy": {},
                            "f:enableServiceLinks": {},
                            "f:restartPolicy": {},
                            "f:schedulerName": {},
                            "f:securityContext": {},
                            "f:terminationGracePeriodSeconds": {},
                        },
                    },
                },
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2025-01-15T09:30:09Z",
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {
                        "f:status": {
                            "f:conditions": cond_fields,
                            "f:containerStatuses": {},
                            "f:hostIP": {},
                            "f:phase": {},
                            "f:podIP": {},
                            "f:podIPs": {".": {}, f'k:{{"ip":"{ip}"}}': {".": {}, "f:ip": {}}},
                            "f:startTime": {},
                        }
                    },
                },
            ],
        },
        "spec": {
            "nodeName": node,
            "serviceAccountName": "default",
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
            "priority": 0,
            "containers": [
                {
                    "name": "server",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {
                            "name": "DB_PASSWORD",
                            "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "pw"}},
                        },
                    ],
                    "resources": {
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                    },
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                        "periodSeconds": 5,
                        "timeoutSeconds": 1,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                    "volumeMounts": [
                        {
                            "name": "kube-api-access",
                            "readOnly": True,
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        }
                    ],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
            ],
            "volumes": [
                {
                    "name": "kube-api-access",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                        }
                                    ]
                                }
                            },
                        ],
                    },
                }
            ],
            "tolerations": [
                {
                    "key": f"node.kubernetes.io/{t}",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
                for t in ("not-ready", "unreachable")
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": f"192.168.{(i % 200) // 100}.{i % 100 + 10}",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": "2025-01-15T09:30:01Z",
            "qosClass": "Burstable",
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": f"2025-01-15T09:30:0{k}Z",
                }
                for k, t in enumerate(("Initialized", "Ready", "ContainersReady", "PodScheduled"))
            ],
            "containerStatuses": [
                {
                    "name": "server",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "image": image,
                    "imageID": f"{image}@sha256:{i:064x}",
                    "containerID": f"containerd://{i * 31:064x}",
                    "state": {"running": {"startedAt": "2025-01-15T09:30:05Z"}},
                    "lastState": {},
                }
            ],
        },
    }


# -- the server process ------------------------------------------------------------------


def server_process(pipe: Pipe, workdir: str, history: int) -> None:
    asyncio.run(_serve(pipe, workdir, history))


async def _serve(pipe: Pipe, workdir: str, history: int) -> None:
    from kwatch.demo.apiserver import DemoApiServer

    srv = DemoApiServer(tls=True, history_size=history, bookmark_interval=60.0)
    await srv.start()
    kubeconfig = os.path.join(workdir, "kubeconfig")
    srv.write_kubeconfig(kubeconfig, "bench")
    pipe.send(("ready", kubeconfig))
    loop = asyncio.get_running_loop()
    names: dict[str, list[str]] = {}
    ticks = 0  # never repeat a value: a patch that changes nothing makes no event
    try:
        while True:
            msg = await loop.run_in_executor(None, pipe.recv)
            if msg[0] == "load":
                _, ns, n = msg
                srv.storage.create("namespaces", {"metadata": {"name": ns}})
                pods = [make_pod(i, ns) for i in range(n)]
                names[ns] = [p["metadata"]["name"] for p in pods]
                t = time.perf_counter()
                srv.storage.bulk_load("pods", "", pods)
                del pods
                import orjson

                one = srv.storage.list("pods", ns, label_selector="app=svc-000")["items"][0]
                pipe.send(("loaded", time.perf_counter() - t, len(orjson.dumps(one))))
            elif msg[0] == "modify":
                _, ns, m = msg
                t = time.perf_counter()
                pod_names = names[ns]
                for i in range(m):
                    ticks += 1
                    # Status updates, as kubelets make most pod changes (and bulk-loaded
                    # pods are not defaulted, so a spec-side patch would be refused).
                    srv.storage.patch(
                        "pods",
                        pod_names[i % len(pod_names)],
                        {"status": {"message": f"tick {ticks}"}},
                        namespace=ns,
                        subresource="status",
                        manager="kubelet",
                    )
                pipe.send(("modified", time.perf_counter() - t))
            elif msg[0] == "stop":
                break
    finally:
        await srv.stop()


# -- client processes --------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def client_process(pipe: Pipe, mode: str, kubeconfig: str, ns: str, m: int, opts: JSON) -> None:
    run = {"engine": _client_engine, "engine-dict": _client_engine, "model": _client_model}
    if opts.get("profile"):
        import cProfile

        with cProfile.Profile() as prof:
            result = asyncio.run(run[mode](pipe, mode, kubeconfig, ns, m, opts))
        prof.dump_stats(opts["profile"])
    else:
        result = asyncio.run(run[mode](pipe, mode, kubeconfig, ns, m, opts))
    pipe.send(("result", result))


def _modify(pipe: Pipe, ns: str, m: int) -> None:
    """Blocks this client's event loop while the server makes m changes."""
    pipe.send(("modify", ns, m))
    pipe.recv()


async def _client_engine(
    pipe: Pipe, mode: str, kubeconfig: str, ns: str, m: int, opts: JSON
) -> JSON:
    from kwatch.core.events import EventType, KEvent, object_key
    from kwatch.core.kinds import POD
    from kwatch.sources.kube import WatchEngine
    from kwatch.sources.kubeconfig import check_access, connect

    sink_name = "dict"
    store: Any = {}
    if mode == "engine":
        try:
            from kwatch.core.pipeline import Pipeline

            store = Pipeline()
            sink_name = "Pipeline"
        except ImportError:
            sink_name = "dict (kwatch.core.pipeline not importable)"

    def dict_sink(batch: Sequence[KEvent]) -> None:
        for e in batch:
            if e.is_marker:
                continue
            if e.type is EventType.DELETED:
                store.pop(object_key(e.obj), None)
            else:
                store[object_key(e.obj)] = e.obj

    apply = store if callable(store) else dict_sink
    marks: JSON = {"modified": 0}
    done = asyncio.Event()

    def sink(batch: Sequence[KEvent]) -> None:
        apply(batch)
        for e in batch:
            if e.type is EventType.LISTED:
                marks["synced"] = time.perf_counter()
                marks["cpu_synced"] = _cpu_s()
                marks["rss_synced"] = _peak_rss_mb()
                if m:
                    _modify(pipe, ns, m)
                marks["watch_from"] = time.perf_counter()
                marks["cpu_watch_from"] = _cpu_s()
            elif e.type is EventType.MODIFIED:
                marks["modified"] += 1
        if marks["modified"] >= m and "synced" in marks:
            marks.setdefault("done", time.perf_counter())
            marks.setdefault("cpu_done", _cpu_s())
            done.set()

    conn = await connect(kubeconfig, None)
    await check_access(conn)
    rss0 = _peak_rss_mb()
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    engine = WatchEngine(
        conn,
        sink,
        kinds=(POD,),
        namespaces=[ns],
        list_batch_size=opts["list_batch"],
        page_size=opts["page_size"],
        streaming_list=opts["streaming"],
    )
    await engine.start()
    await asyncio.wait_for(done.wait(), 900)
    await engine.stop()
    await conn.close()
    return {
        "sink": sink_name,
        "sync_s": marks["synced"] - t0,
        "sync_cpu_s": marks["cpu_synced"] - cpu0,
        "events_per_s": m / (marks["done"] - marks["watch_from"]) if m else 0.0,
        "cpu_us_per_event": (marks["cpu_done"] - marks["cpu_watch_from"]) / m * 1e6 if m else 0.0,
        "rss_before_mb": rss0,
        "rss_synced_mb": marks["rss_synced"],
        "peak_rss_mb": _peak_rss_mb(),
        "relists": engine.health[f"Pod/{ns}"].relists,
    }


async def _client_model(
    pipe: Pipe, mode: str, kubeconfig: str, ns: str, m: int, opts: JSON
) -> JSON:
    from kubernetes_asyncio import client, watch

    from kwatch.sources.kubeconfig import check_access, connect

    conn = await connect(kubeconfig, None)
    await check_access(conn)
    v1 = client.CoreV1Api(conn.api_client)
    rss0 = _peak_rss_mb()
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    pods: dict[tuple[str, str], Any] = {}
    cont: str | None = None
    while True:
        kwargs: JSON = {"limit": 500}
        if cont:
            kwargs["_continue"] = cont
        page = await v1.list_namespaced_pod(ns, **kwargs)
        for p in page.items:
            pods[(p.metadata.namespace, p.metadata.name)] = p
        rv = page.metadata.resource_version
        cont = page.metadata._continue
        if not cont:
            break
    synced = time.perf_counter()
    cpu_synced = _cpu_s()
    rss_synced = _peak_rss_mb()
    if m:
        _modify(pipe, ns, m)
    watch_from = time.perf_counter()
    cpu_watch_from = _cpu_s()
    seen = 0
    w = watch.Watch()
    async for ev in w.stream(v1.list_namespaced_pod, ns, resource_version=rv, timeout_seconds=900):
        obj = ev["object"]
        pods[(obj.metadata.namespace, obj.metadata.name)] = obj
        seen += 1
        if seen >= m:
            w.stop()
            break
    done = time.perf_counter()
    cpu_done = _cpu_s()
    await w.close()  # Watch() makes an ApiClient of its own
    await conn.close()
    return {
        "sync_s": synced - t0,
        "sync_cpu_s": cpu_synced - cpu0,
        "events_per_s": m / (done - watch_from) if m else 0.0,
        "cpu_us_per_event": (cpu_done - cpu_watch_from) / m * 1e6 if m else 0.0,
        "rss_before_mb": rss0,
        "rss_synced_mb": rss_synced,
        "peak_rss_mb": _peak_rss_mb(),
    }


# -- orchestration -----------------------------------------------------------------------


def run_client(
    ctx: Any, server: Pipe, mode: str, kubeconfig: str, ns: str, m: int, opts: JSON
) -> JSON:
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=client_process, args=(theirs, mode, kubeconfig, ns, m, opts))
    proc.start()
    theirs.close()  # so a crashed client shows up as EOFError instead of a hang
    try:
        while True:
            msg = mine.recv()
            if msg[0] == "modify":
                server.send(msg)
                mine.send(server.recv())
            elif msg[0] == "result":
                result: JSON = msg[1]
                return result
    finally:
        proc.join(timeout=30)


def _rate(x: float) -> str:
    return f"{x:,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--pods", type=int, default=10_000, help="pods to list (default 10000)")
    ap.add_argument("--events", type=int, default=10_000, help="MODIFIED events to follow")
    ap.add_argument(
        "--model-pods",
        type=int,
        default=None,
        help="pods for the kubernetes_asyncio comparison (default min(N, 5000))",
    )
    ap.add_argument(
        "--model-events",
        type=int,
        default=None,
        help="events for the comparison (default min(M, 2000))",
    )
    ap.add_argument("--no-model", action="store_true", help="skip the comparison")
    ap.add_argument(
        "--profile", metavar="FILE", help="cProfile the main kwatch client run into FILE (pstats)"
    )
    ap.add_argument(
        "--streaming",
        action="store_true",
        help="WatchEngine streaming_list=True (sendInitialEvents) instead of paged LIST",
    )
    from kwatch.sources.kube import LIST_BATCH_SIZE, PAGE_SIZE

    ap.add_argument(
        "--page-size",
        type=int,
        default=PAGE_SIZE,
        metavar="P",
        help=f"WatchEngine page_size (default {PAGE_SIZE})",
    )

    ap.add_argument(
        "--list-batch",
        type=int,
        default=LIST_BATCH_SIZE,
        metavar="K",
        help=f"WatchEngine list_batch_size (default {LIST_BATCH_SIZE}; 0 = one batch)",
    )
    args = ap.parse_args(argv)
    n, m = args.pods, args.events
    n_small = args.model_pods if args.model_pods is not None else min(n, 5000)
    m_small = args.model_events if args.model_events is not None else min(m, 2000)

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="kwatch-bench-") as workdir:
        mine, theirs = ctx.Pipe()
        history = max(m, m_small) + 1000
        srv = ctx.Process(target=server_process, args=(theirs, workdir, history), daemon=True)
        srv.start()
        theirs.close()
        _, kubeconfig = mine.recv()
        mine.send(("load", BIG_NS, n))
        _, load_s, pod_bytes = mine.recv()
        print(
            f"server: {n} pods of {pod_bytes} bytes (JSON) loaded in {load_s:.1f}s "
            "(separate process)"
        )
        try:
            opts = {
                "list_batch": args.list_batch or None,
                "page_size": args.page_size,
                "streaming": args.streaming,
            }
            big = run_client(
                ctx, mine, "engine", kubeconfig, BIG_NS, m, {**opts, "profile": args.profile}
            )
            how = "streaming list" if args.streaming else f"LIST limit={args.page_size}"
            print(f"\nkwatch WatchEngine ({how}) → {big['sink']}, {n} pods, {m} events")
            print(
                f"  synced in       {big['sync_s']:.2f} s wall "
                f"({big['sync_cpu_s']:.2f} s client CPU)"
            )
            print(
                f"  watch stream    {_rate(big['events_per_s'])} events/s "
                f"({big['cpu_us_per_event']:.0f} µs client CPU per event)"
            )
            print(
                f"  client RSS      {big['rss_before_mb']:.0f} MB before start, "
                f"{big['rss_synced_mb']:.0f} MB peak at sync, "
                f"{big['peak_rss_mb']:.0f} MB peak overall"
            )
            if args.no_model or n_small == 0:
                return 0
            mine.send(("load", SMALL_NS, n_small))
            mine.recv()
            fast = run_client(ctx, mine, "engine-dict", kubeconfig, SMALL_NS, m_small, opts)
            slow = run_client(ctx, mine, "model", kubeconfig, SMALL_NS, m_small, opts)
            print(f"\nsame list + watch, {n_small} pods, {m_small} events, dict sinks")
            print(
                f"  {'':26}{'list s':>8}{'list CPU s':>11}{'events/s':>10}"
                f"{'CPU µs/ev':>10}{'peak RSS MB':>12}"
            )
            for label, r in (("kwatch WatchEngine", fast), ("kubernetes_asyncio models", slow)):
                print(
                    f"  {label:26}{r['sync_s']:>8.2f}{r['sync_cpu_s']:>11.2f}"
                    f"{_rate(r['events_per_s']):>10}{r['cpu_us_per_event']:>10.0f}"
                    f"{r['peak_rss_mb']:>12.0f}"
                )
            print(
                f"  kwatch is {slow['sync_s'] / fast['sync_s']:.1f}x faster to list "
                f"({slow['sync_cpu_s'] / fast['sync_cpu_s']:.1f}x less CPU), "
                f"{fast['events_per_s'] / slow['events_per_s']:.1f}x faster on the watch stream "
                f"({slow['cpu_us_per_event'] / fast['cpu_us_per_event']:.1f}x less CPU per event)"
            )
        finally:
            mine.send(("stop",))
            srv.join(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
