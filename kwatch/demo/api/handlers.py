"""HTTP handling of Kubernetes REST requests: routing, verbs, content types, errors.

One catch-all handler parses the path (paths.py), checks the per-resource denial list,
and maps (method, path shape, subresource) to a storage call. Every failure is a
Kubernetes Status body; list bodies are assembled from each object's cached bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml  # type: ignore[import-untyped, unused-ignore]
from aiohttp import web

from kwatch.demo.api import discovery, openapi, paths, protobuf, subresources, tables
from kwatch.demo.api.collection import TooOld
from kwatch.demo.api.entry import Entry
from kwatch.demo.api.errors import (
    ApiError,
    bad_request,
    expired,
    forbidden,
    status_body,
    success_status,
)
from kwatch.demo.api.managed import manager_from_user_agent
from kwatch.demo.api.patching import PATCH_TYPES
from kwatch.demo.api.registry import ResourceDef
from kwatch.demo.api.selectors import (
    FieldRequirement,
    FieldSelector,
    parse_fields,
    parse_labels,
)
from kwatch.demo.api.storage import Page, Storage
from kwatch.demo.api.watch_stream import StreamOptions, stream, stream_error
from kwatch.demo.api.watchers import Watcher

JSON = dict[str, Any]
log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
_TRUE = ("1", "true", "True")
# Which subresources each verb may address ("" = the object or collection itself).
_SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "get": ("", "status", "scale", "resize"),
    "update": ("", "status", "scale", "resize", "finalize"),
    "patch": ("", "status", "scale", "resize"),
    "create": ("", "binding", "eviction"),
}
_UNSUPPORTED_BODIES = ("application/cbor",)


@dataclass(slots=True)
class Settings:
    """Server knobs the handlers read on every request (tests flip them at run time)."""

    user: str = "kwatch"
    forbidden: set[str] = field(default_factory=set)
    bookmark_interval: float = 60.0
    expired_as_http_410: bool = False
    server_address: str = "127.0.0.1:0"


class WatchTracker:
    """The watch streams being served right now."""

    def __init__(self) -> None:
        self.active: set[Watcher] = set()
        self._ended = asyncio.Event()

    @property
    def count(self) -> int:
        return len(self.active)

    def add(self, watcher: Watcher) -> None:
        self.active.add(watcher)

    def discard(self, watcher: Watcher) -> None:
        self.active.discard(watcher)
        self._ended.set()

    async def idle(self) -> None:
        """Return once no stream is open."""
        while self.active:
            self._ended.clear()
            await self._ended.wait()


def json_response(body: JSON | bytes, status: int = 200) -> web.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=data, status=status, content_type="application/json")


def error_response(err: ApiError) -> web.Response:
    return json_response(err.status(), err.code)


def not_found_path() -> ApiError:
    return ApiError("NotFound", "the server could not find the requested resource",
                    details={"causes": [{"reason": "UnexpectedServerResponse",
                                         "message": "404 page not found"}]})


def _verb(method: str, rp: paths.ResourcePath, watch: bool) -> str:
    if method == "GET":
        if watch and not rp.subresource:
            return "watch"  # a named watch is a watch of the list, filtered by name
        return "get" if rp.name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if rp.name else "deletecollection"
    raise ApiError("MethodNotAllowed", f"the server does not allow this method on the "
                   f"requested resource ({method})")


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid value for {name}: {value!r}") from None


def _bool(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value in _TRUE


class RestHandler:
    def __init__(self, storage: Storage, settings: Settings, tracker: WatchTracker) -> None:
        self.storage = storage
        self.settings = settings
        self.tracker = tracker

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The one route: every path and method."""
        try:
            return await self._dispatch(request)
        except ApiError as e:
            return error_response(e)
        except Exception as e:  # a bug here must still answer like an API server
            log.exception("internal error serving %s %s", request.method, request.path)
            return json_response(status_body(500, "InternalError",
                                             f"Internal error occurred: {e}"), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in HEALTH_PATHS or path.startswith(tuple(p + "/" for p in HEALTH_PATHS)):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return json_response(discovery.version_info())
        if path.startswith("/openapi/v3"):
            return self._openapi(path[len("/openapi/v3"):].strip("/"))
        parsed = paths.parse(path)
        if parsed is None:
            raise not_found_path()
        if isinstance(parsed, paths.DiscoveryPath):
            return self._discovery(request, parsed)
        return await self._resource(request, parsed)

    # -- discovery ---------------------------------------------------------------------

    def _openapi(self, gv_path: str) -> web.Response:
        registry = self.storage.registry
        if not gv_path:
            return json_response(openapi.root(registry))
        parts = gv_path.split("/")
        doc = None
        if parts[0] == "api" and len(parts) == 2:
            doc = openapi.group_version_doc(registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = openapi.group_version_doc(registry, parts[1], parts[2])
        if doc is None:
            raise not_found_path()
        return json_response(doc)

    def _discovery(self, request: web.Request, d: paths.DiscoveryPath) -> web.Response:
        if request.method != "GET":
            raise ApiError("MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource")
        registry = self.storage.registry
        body: JSON | None
        if d.root == "api":
            body = (discovery.api_versions(self.settings.server_address) if not d.version
                    else discovery.api_resource_list(registry, "", d.version))
        elif not d.group:
            body = discovery.api_group_list(registry)
        elif not d.version:
            body = discovery.api_group(registry, d.group)
        else:
            body = discovery.api_resource_list(registry, d.group, d.version)
        if body is None:
            raise not_found_path()
        return json_response(body)

    # -- resources ---------------------------------------------------------------------

    async def _resource(self, request: web.Request, rp: paths.ResourcePath) -> web.StreamResponse:
        if (rp.group, rp.resource) == ("", "bindings") and rp.namespace and not rp.name:
            return await self._legacy_binding(request, rp.namespace)
        rdef = self.storage.registry.get(rp.group, rp.version, rp.resource)
        if rdef is None or (rp.namespace is not None and not rdef.namespaced):
            raise not_found_path()
        if rp.subresource and rp.subresource not in rdef.subresources:
            raise not_found_path()
        if rdef.namespaced and rp.namespace is None and rp.name:
            raise not_found_path()  # /api/v1/pods/NAME: named objects live in namespaces
        q = request.query
        watch = rp.legacy_watch or q.get("watch") in _TRUE
        verb = _verb(request.method, rp, watch)
        if (rp.subresource not in _SUBRESOURCE_VERBS.get(verb, ("",))
                or (verb == "create" and bool(rp.name) != bool(rp.subresource))
                or (verb == "create" and rdef.namespaced and rp.namespace is None)):
            raise ApiError("MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource")
        ns = rp.namespace if rdef.namespaced else None
        if rdef.plural in self.settings.forbidden:
            raise forbidden(self.settings.user, verb, rdef.plural, rdef.group, ns, rp.name)
        manager = q.get("fieldManager") or manager_from_user_agent(
            request.headers.get("User-Agent"))
        dry_run = "All" in q.getall("dryRun", [])
        table = tables.wants_table(request.headers.get("Accept", ""))

        if verb == "watch":
            return await self._watch(request, rdef, ns, table, rp.name)
        if verb == "list":
            return self._list(request, rdef, ns, table)
        if verb == "get":
            if rp.subresource == "scale":
                return json_response(subresources.get_scale(self.storage, rdef, ns, rp.name))
            entry = self.storage.get_entry(rdef, ns, rp.name)
            return self._object(rdef, entry, table, request)
        if verb == "create":
            body = await self._body(request)
            if rp.name and rp.subresource == "binding":
                return json_response(
                    subresources.bind(self.storage, rdef, ns, rp.name, body), 201)
            if rp.name and rp.subresource == "eviction":
                return json_response(
                    subresources.evict(self.storage, rdef, ns, rp.name, body), 201)
            entry = self.storage.create_entry(rdef, body, ns, manager=manager, dry_run=dry_run)
            return self._object(rdef, entry, False, request, status=201)
        if verb == "update":
            body = await self._body(request)
            if rp.subresource == "scale":
                return json_response(subresources.update_scale(
                    self.storage, rdef, ns, rp.name, body, manager=manager, dry_run=dry_run))
            entry = self.storage.update_entry(rdef, ns, rp.name, body, manager=manager,
                                              subresource=rp.subresource or None,
                                              dry_run=dry_run)
            return self._object(rdef, entry, False, request)
        if verb == "patch":
            return await self._patch(request, rdef, ns, rp, manager, dry_run)
        if verb == "delete":
            return await self._delete(request, rdef, ns, rp.name, dry_run)
        return await self._delete_collection(request, rdef, ns, dry_run)

    async def _legacy_binding(self, request: web.Request, namespace: str) -> web.Response:
        """POST /api/v1/namespaces/{ns}/bindings: pods/binding with the pod named in the
        body (what older schedulers and client libraries use)."""
        if request.method != "POST":
            raise ApiError("MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource")
        pods = self.storage.resolve("pods")
        if "pods" in self.settings.forbidden:
            raise forbidden(self.settings.user, "create", "pods", "", namespace)
        body = await self._body(request)
        name = str(((body if isinstance(body, dict) else {}).get("metadata") or {})
                   .get("name") or "")
        if not name:
            raise ApiError("Invalid", 'Binding "" is invalid: metadata.name: Required value')
        return json_response(subresources.bind(self.storage, pods, namespace, name, body), 201)

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            raise bad_request("the body of the request is empty")
        ctype = request.headers.get("Content-Type", "").split(";", 1)[0].strip()
        if ctype == protobuf.MEDIA_TYPE:
            return protobuf.decode_body(raw)
        if ctype in _UNSUPPORTED_BODIES:
            # No CBOR codec here: 415 is what such a server answers, saying what it reads.
            raise ApiError("UnsupportedMediaType", f"the body of the request was in an "
                           f"unknown format ({ctype}): the kwatch demo API server speaks JSON "
                           "and protobuf - accepted media types include: application/json, "
                           "application/yaml, application/vnd.kubernetes.protobuf")
        try:
            if ctype in ("application/apply-patch+yaml", "application/yaml"):
                return yaml.safe_load(raw)
            return orjson.loads(raw)
        except (orjson.JSONDecodeError, yaml.YAMLError) as e:
            raise bad_request(f"the body of the request could not be decoded: {e}") from None

    def _object(self, rdef: ResourceDef, entry: Entry, table: bool, request: web.Request,
                status: int = 200) -> web.Response:
        if table:
            obj = orjson.loads(self.storage.render(rdef, entry))
            return json_response(tables.table(
                rdef.plural, [obj], self.storage.clock(),
                list_meta={"resourceVersion": str(entry.rv)},
                include_object=request.query.get("includeObject", "Metadata")))
        return json_response(self.storage.render(rdef, entry), status)

    def _list(self, request: web.Request, rdef: ResourceDef, ns: str | None,
              table: bool) -> web.Response:
        q = request.query
        page = self.storage.list_page(
            rdef, ns, parse_labels(q.get("labelSelector")),
            parse_fields(q.get("fieldSelector"), rdef),
            limit=max(0, _int(q.get("limit"), "limit") or 0),
            continue_token=q.get("continue", ""),
            resource_version=q.get("resourceVersion", ""),
            resource_version_match=q.get("resourceVersionMatch", ""),
        )
        meta = _list_meta(page)
        if table:
            objs = [orjson.loads(self.storage.render(rdef, e)) for e in page.entries]
            return json_response(tables.table(
                rdef.plural, objs, self.storage.clock(), list_meta=meta,
                include_object=q.get("includeObject", "Metadata")))
        render = self.storage.render
        head = (b'{"kind":"' + rdef.list_kind.encode() + b'","apiVersion":"'
                + rdef.api_version.encode() + b'","metadata":' + orjson.dumps(meta)
                + b',"items":[')
        body = head + b",".join([render(rdef, e) for e in page.entries]) + b"]}"
        return json_response(body)

    async def _watch(self, request: web.Request, rdef: ResourceDef, ns: str | None,
                     table: bool, name: str = "") -> web.StreamResponse:
        q = request.query
        labels = parse_labels(q.get("labelSelector"))
        fields = parse_fields(q.get("fieldSelector"), rdef)
        if name:
            by_name = FieldRequirement("metadata.name", name, negate=False)
            fields = FieldSelector((*(fields.requirements if fields else ()), by_name))
        timeout = _int(q.get("timeoutSeconds"), "timeoutSeconds")
        bookmarks = q.get("allowWatchBookmarks") in _TRUE
        send_initial = _bool(q.get("sendInitialEvents"))
        if send_initial is not None and q.get("resourceVersionMatch") != "NotOlderThan":
            raise ApiError("Invalid", 'ListOptions.meta.k8s.io "" is invalid: '
                           "resourceVersionMatch: Forbidden: sendInitialEvents requires "
                           "setting resourceVersionMatch to NotOlderThan")
        view = self._table_view(rdef, q.get("includeObject", "Metadata")) if table else None
        try:
            watcher = self.storage.watch(rdef, ns, labels, fields,
                                         resource_version=q.get("resourceVersion", ""),
                                         send_initial_events=send_initial,
                                         allow_bookmarks=bookmarks, view=view)
        except TooOld as e:
            err = expired(str(e))
            if self.settings.expired_as_http_410:
                return error_response(err)
            return await stream_error(request, err.status())
        except ApiError as e:
            if e.code != 504:
                raise
            # Past parsing, the real server reports watch failures in the stream.
            return await stream_error(request, e.status())
        self.tracker.add(watcher)
        try:
            options = StreamOptions(
                kind="Table" if table else rdef.kind,
                api_version="meta.k8s.io/v1" if table else rdef.api_version,
                timeout=float(timeout) if timeout else None,
                bookmarks=bookmarks,
                bookmark_interval=self.settings.bookmark_interval,
            )
            return await stream(request, watcher, options, lambda: self.storage.rv)
        finally:
            self.storage.unwatch(rdef, watcher)
            self.tracker.discard(watcher)

    def _table_view(self, rdef: ResourceDef,
                    include: str) -> tuple[str, Callable[[Entry], bytes]]:
        def render(entry: Entry) -> bytes:
            obj = orjson.loads(self.storage.render(rdef, entry))
            return orjson.dumps(tables.table(
                rdef.plural, [obj], self.storage.clock(),
                list_meta={"resourceVersion": str(entry.rv)}, include_object=include))
        return f"table:{include}", render

    async def _patch(self, request: web.Request, rdef: ResourceDef, ns: str | None,
                     rp: paths.ResourcePath, manager: str, dry_run: bool) -> web.Response:
        ctype = request.headers.get("Content-Type", "").split(";", 1)[0].strip()
        patch_type = PATCH_TYPES.get(ctype)
        if patch_type is None:
            raise ApiError("UnsupportedMediaType", f"the body of the request was in an unknown "
                           f"format - accepted media types include: {', '.join(PATCH_TYPES)}")
        body = await self._body(request)
        if rp.subresource == "scale":
            return json_response(subresources.patch_scale(
                self.storage, rdef, ns, rp.name, body, patch_type, manager=manager,
                dry_run=dry_run))
        if patch_type == "apply" and request.query.get("fieldManager") is None:
            raise ApiError("BadRequest", "PATCH, application/apply-patch+yaml requests must "
                           "specify a fieldManager")
        entry = self.storage.patch_entry(rdef, ns, rp.name, body, patch_type, manager=manager,
                                         subresource=rp.subresource or None, dry_run=dry_run)
        return self._object(rdef, entry, False, request)

    async def _delete_options(self, request: web.Request) -> JSON:
        q = request.query
        opts: JSON = {}
        if (g := _int(q.get("gracePeriodSeconds"), "gracePeriodSeconds")) is not None:
            opts["gracePeriodSeconds"] = g
        if q.get("propagationPolicy"):
            opts["propagationPolicy"] = q["propagationPolicy"]
        if q.get("orphanDependents") is not None:
            opts["orphanDependents"] = q["orphanDependents"] in _TRUE
        raw = await request.read()
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise bad_request(f"invalid DeleteOptions: {e}") from None
            if isinstance(body, dict):
                opts.update({k: v for k, v in body.items() if v is not None})
        if "propagationPolicy" not in opts and "orphanDependents" in opts:
            opts["propagationPolicy"] = "Orphan" if opts["orphanDependents"] else "Background"
        return opts

    async def _delete(self, request: web.Request, rdef: ResourceDef, ns: str | None, name: str,
                      dry_run: bool) -> web.Response:
        opts = await self._delete_options(request)
        dry_run = dry_run or "All" in (opts.get("dryRun") or [])
        entry, gone = self.storage.delete_entry(
            rdef, ns, name, grace=opts.get("gracePeriodSeconds"),
            propagation=opts.get("propagationPolicy"), preconditions=opts.get("preconditions"),
            dry_run=dry_run)
        if gone and not rdef.return_deleted_object:
            details: JSON = {"name": name, "kind": rdef.plural, "uid": entry.uid}
            if rdef.group:
                details["group"] = rdef.group
            return json_response(success_status(details))
        status = 202 if not gone and opts.get("orphanDependents") is False else 200
        return json_response(self.storage.render(rdef, entry), status)

    async def _delete_collection(self, request: web.Request, rdef: ResourceDef,
                                 ns: str | None, dry_run: bool) -> web.Response:
        q = request.query
        opts = await self._delete_options(request)
        deleted = self.storage.delete_collection(
            rdef, ns, parse_labels(q.get("labelSelector")),
            parse_fields(q.get("fieldSelector"), rdef),
            grace=opts.get("gracePeriodSeconds"), propagation=opts.get("propagationPolicy"),
            dry_run=dry_run)
        head = (b'{"kind":"' + rdef.list_kind.encode() + b'","apiVersion":"'
                + rdef.api_version.encode() + b'","metadata":{"resourceVersion":"'
                + str(self.storage.rv).encode() + b'"},"items":[')
        return json_response(head + b",".join(
            [self.storage.render(rdef, e) for e in deleted]) + b"]}")


def _list_meta(page: Page) -> JSON:
    meta: JSON = {"resourceVersion": str(page.resource_version)}
    if page.continue_token:
        meta["continue"] = page.continue_token
    if page.remaining is not None:
        meta["remainingItemCount"] = page.remaining
    return meta
