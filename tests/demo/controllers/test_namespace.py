"""Namespace deletion: Terminating, no new content, content deleted gracefully, finalize."""

from __future__ import annotations

import pytest
from lab_cluster import Cluster, condition, pod_manifest, pod_status, wait_for

from kwatch.core.events import JSON
from kwatch.core.kinds import POD, ResourceKind
from kwatch.demo.client import ApiError
from kwatch.demo.controllers.namespace import DELETION_DELAY, NAMESPACE, NamespaceController

SPEED = 50.0  # the 5 s deletion delay and a 30 s grace period ≈ 0.7 wall seconds
NS = "doomed"
CONFIGMAP = ResourceKind("ConfigMap", "", "v1", "configmaps")


async def doomed_namespace(c: Cluster) -> None:
    await c.create(NAMESPACE, {"metadata": {"name": NS}})
    await c.create(CONFIGMAP, {"metadata": {"name": "settings"}}, NS)


async def test_delete_leaves_the_namespace_terminating_and_closed_to_new_content() -> None:
    async with Cluster(SPEED) as c:
        await doomed_namespace(c)
        ns = await c.must_get(NAMESPACE, NS)
        assert ns["spec"]["finalizers"] == ["kubernetes"]
        path = f"{NAMESPACE.collection_path()}/{NS}"
        for _ in range(2):  # a second DELETE is fine too
            out = await c.api.delete(path)
            assert out is not None and out["metadata"]["deletionTimestamp"]
            assert out["status"]["phase"] == "Terminating"
            assert out["spec"]["finalizers"] == ["kubernetes"]
        with pytest.raises(ApiError) as err:
            await c.create(CONFIGMAP, {"metadata": {"name": "late"}}, NS)
        assert err.value.code == 403
        assert err.value.message == (
            'configmaps "late" is forbidden: unable to create new content in namespace '
            f"{NS} because it is being terminated")
        # No namespace controller runs here: nothing deletes the content or the namespace.
        await c.clock.sleep(30)
        assert await c.get(CONFIGMAP, "settings", NS) is not None
        assert await c.get(NAMESPACE, NS) is not None


async def test_the_controller_deletes_content_gracefully_then_finalizes() -> None:
    async with Cluster(SPEED) as c:
        c.server.add_nodes(1)
        await doomed_namespace(c)
        await c.create(POD, pod_manifest("web", {"app": "web"}, node="node-1"), NS)
        await c.set_pod_status("web", pod_status(ready=True, ip="10.244.0.7"), NS)
        await c.start(NamespaceController)
        deleted_at = c.clock.now()
        await c.api.delete(f"{NAMESPACE.collection_path()}/{NS}")

        async def terminating_pod() -> JSON | None:
            pod = await c.must_get(POD, "web", NS)
            return pod if pod["metadata"].get("deletionTimestamp") else None
        pod = await wait_for(terminating_pod, what="the pod marked for deletion")
        assert c.clock.now() - deleted_at >= DELETION_DELAY
        # Graceful: the pod's kubelet gets its 30 s to run preStop hooks and SIGTERM.
        assert pod["metadata"]["deletionGracePeriodSeconds"] == 30

        async def configmap_gone() -> bool:
            return await c.get(CONFIGMAP, "settings", NS) is None
        # (Kinds are deleted one after another: the pod's turn may come first.)
        assert await wait_for(configmap_gone, what="the ConfigMap deleted")

        async def content_remaining() -> JSON | None:
            ns = await c.must_get(NAMESPACE, NS)
            return condition(ns, "NamespaceContentRemaining")
        remaining = await wait_for(content_remaining, what="the NamespaceContentRemaining "
                                   "condition")
        assert remaining["status"] == "True" and remaining["reason"] == "SomeResourcesRemain"
        assert "pods. has 1 resource instances" in remaining["message"]
        ns = await c.must_get(NAMESPACE, NS)
        content = condition(ns, "NamespaceDeletionContentFailure")
        assert content is not None
        assert (content["status"], content["reason"]) == ("False", "ContentDeleted")
        assert ns["spec"]["finalizers"] == ["kubernetes"]

        await c.delete_pod("web", NS, grace=0)  # the kubelet, once the container stopped

        async def gone() -> bool:
            return await c.get(NAMESPACE, NS) is None
        await wait_for(gone, what="the namespace gone")
