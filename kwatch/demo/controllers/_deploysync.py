"""One sync of one Deployment: the deployment controller's decision procedure.

`DeploymentSync.run()` follows kube-controller-manager's syncDeployment: find (or create)
the ReplicaSet whose template matches the Deployment's, then — depending on the state —
only scale (a replicas change, or a paused Deployment), roll out (RollingUpdate or
Recreate), and finally write the status. Every write uses the resourceVersion of the
object it was computed from, so a sync working on a stale informer cache fails with 409
Conflict and is retried on fresher data instead of acting twice.

Objects here are private deep copies of cached ones: they are updated in place with the
server's answer after each write, so later steps of the same sync see the new values.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING

from kwatch.core.events import JSON, object_key
from kwatch.core.kinds import DEPLOYMENT, REPLICASET
from kwatch.demo.client import ApiError
from kwatch.demo.clock import parse_time
from kwatch.demo.controllers import _deployutil as du
from kwatch.demo.controllers._objects import (
    controller_of,
    controller_ref,
    is_controlled_by,
    is_terminating,
    meta,
    selector_from,
    typed_copy,
)
from kwatch.demo.controllers.base import RetryLater
from kwatch.demo.controllers.hashing import (
    POD_TEMPLATE_HASH_LABEL,
    compute_hash,
    equal_ignore_hash,
)

if TYPE_CHECKING:
    from kwatch.demo.controllers.deployment import DeploymentController


def _replace(obj: JSON, fresh: JSON) -> None:
    obj.clear()
    obj.update(fresh)


def find_new_rs(d: JSON, rs_list: list[JSON]) -> JSON | None:
    """The oldest ReplicaSet whose template equals the Deployment's (FindNewReplicaSet).

    Matching on the template, not on the name, is what makes a rollback re-use the old
    ReplicaSet: `kubectl rollout undo` copies its template back into the Deployment.
    """
    template = (d.get("spec") or {}).get("template") or {}
    for rs in sorted(rs_list, key=du.creation_key):
        if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    return None


class DeploymentSync:
    def __init__(self, ctl: DeploymentController, d: JSON) -> None:
        self.ctl = ctl
        self.client = ctl.client
        self.clock = ctl.clock
        self.d = d
        self.key = object_key(d)
        self.ns = str(meta(d).get("namespace") or "")
        self.name = str(meta(d).get("name") or "")
        self.rs_list: list[JSON] = []

    # -- plumbing ------------------------------------------------------------------------

    @property
    def spec(self) -> JSON:
        s: JSON = self.d.setdefault("spec", {})
        return s

    @property
    def status(self) -> JSON:
        s: JSON = self.d.setdefault("status", {})
        return s

    def _now(self) -> str:
        return self.clock.rfc3339()

    def _d_path(self) -> str:
        return f"{DEPLOYMENT.collection_path(self.ns)}/{self.name}"

    @staticmethod
    def _rs_path(rs: JSON) -> str:
        m = meta(rs)
        return f"{REPLICASET.collection_path(m['namespace'])}/{m['name']}"

    async def _update_status(self) -> None:
        fresh = await self.client.update(f"{self._d_path()}/status", self.d)
        _replace(self.d, typed_copy(fresh, "apps/v1", "Deployment"))

    async def _set_revision(self, revision: str) -> None:
        """Mirror the new ReplicaSet's revision on the Deployment (SetDeploymentRevision).

        A metadata-only patch: it does not bump generation, and keeps the status this
        sync is computing (only the resourceVersion moves on).
        """
        if du.annotations_of(self.d).get(du.REVISION) == revision:
            return
        fresh = await self.client.patch(
            self._d_path(), {"metadata": {"annotations": {du.REVISION: revision}}}
        )
        self.d["metadata"] = fresh["metadata"]

    def _event(
        self, type_: str, reason: str, action: str, note: str, related: JSON | None = None
    ) -> None:
        self.ctl.recorder.event(self.d, type_, reason, action, note, related=related)

    # -- entry point ---------------------------------------------------------------------

    async def run(self) -> None:
        sel = selector_from(self.spec.get("selector"))
        if sel is None or sel.empty:
            self._event(
                "Warning", "SelectingAll", "Sync",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            generation = int(meta(self.d).get("generation") or 0)
            if int(self.status.get("observedGeneration") or 0) < generation:
                self.status["observedGeneration"] = generation
                await self._update_status()
            return
        self.rs_list = await self.ctl.claim_replicasets(self.d, sel)
        if is_terminating(self.d):
            await self.sync_status_only()
            return
        await self.check_paused_conditions()
        if self.spec.get("paused"):
            await self.sync()
            return
        if await self.is_scaling_event():
            await self.sync()
            return
        if du.is_rolling(self.d):
            await self.rollout_rolling()
        else:
            await self.rollout_recreate()

    # -- finding / creating the new ReplicaSet -------------------------------------------

    async def get_all(self, create: bool) -> tuple[JSON | None, list[JSON]]:
        """(new RS or None, all old RSes), syncing revisions (getAllReplicaSetsAndSyncRevision)."""
        new_rs = find_new_rs(self.d, self.rs_list)
        old = [rs for rs in self.rs_list if rs is not new_rs]
        return await self.get_new_rs(new_rs, old, create), old

    async def get_new_rs(self, existing: JSON | None, old: list[JSON], create: bool) -> JSON | None:
        new_revision = du.max_revision(old) + 1
        if existing is not None:
            return await self._sync_existing_new_rs(existing, new_revision)
        if not create:
            return None
        return await self._create_new_rs(old, new_revision)

    async def _sync_existing_new_rs(self, rs: JSON, new_revision: int) -> JSON:
        updated = copy.deepcopy(rs)
        annotations_changed = du.set_new_rs_annotations(self.d, updated, new_revision, True)
        min_ready = int(self.spec.get("minReadySeconds") or 0)
        if annotations_changed or int(updated["spec"].get("minReadySeconds") or 0) != min_ready:
            updated["spec"]["minReadySeconds"] = min_ready
            _replace(rs, typed_copy(await self.client.update(self._rs_path(rs), updated),
                                    "apps/v1", "ReplicaSet"))
        await self._set_revision(str(du.revision(rs)))
        progressing = du.get_condition(self.status, du.PROGRESSING)
        if du.has_progress_deadline(self.d) and progressing is None:
            du.set_condition(self.status, du.new_condition(
                du.PROGRESSING, "True", du.FOUND_NEW_RS,
                f'Found new replica set "{meta(rs)["name"]}"', self._now(),
            ))
            await self._update_status()
        return rs

    def _new_rs_object(self) -> JSON:
        collision_count = self.status.get("collisionCount")
        template = copy.deepcopy(self.spec.get("template") or {})
        pod_hash = compute_hash(template, collision_count)
        template.setdefault("metadata", {}).setdefault("labels", {})
        template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = pod_hash
        selector = copy.deepcopy(self.spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH_LABEL] = pod_hash
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{self.name}-{pod_hash}",
                "namespace": self.ns,
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [controller_ref(self.d, "apps/v1", "Deployment")],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(self.spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }

    async def _create_new_rs(self, old: list[JSON], new_revision: int) -> JSON:
        rs = self._new_rs_object()
        rs["spec"]["replicas"] = du.new_rs_new_replicas(self.d, [*old, rs], rs)
        du.set_new_rs_annotations(self.d, rs, new_revision, False)
        name = meta(rs)["name"]
        already_exists = False
        try:
            created = await self.client.create(REPLICASET.collection_path(self.ns), rs)
        except ApiError as e:
            if e.code == 409:
                found = await self.client.get(self._rs_path(rs))
                if found is None or not self._is_ours_and_current(found):
                    await self._bump_collision_count()
                    raise
                created, already_exists = found, True
            else:
                if du.has_progress_deadline(self.d):
                    du.set_condition(self.status, du.new_condition(
                        du.PROGRESSING, "False", du.FAILED_RS_CREATE,
                        f'Failed to create new replica set "{name}": {e.message}', self._now(),
                    ))
                    await self._update_status()
                raise
        rs = typed_copy(created, "apps/v1", "ReplicaSet")
        if not already_exists and du.spec_replicas(rs) > 0:
            self._event("Normal", "ScalingReplicaSet", "Scale",
                        f"Scaled up replica set {name} from 0 to {du.spec_replicas(rs)}", rs)
        await self._set_revision(str(new_revision))
        if not already_exists and du.has_progress_deadline(self.d):
            du.set_condition(self.status, du.new_condition(
                du.PROGRESSING, "True", du.NEW_RS_CREATED,
                f'Created new replica set "{name}"', self._now(),
            ))
            await self._update_status()
        self.rs_list.append(rs)
        return rs

    def _is_ours_and_current(self, rs: JSON) -> bool:
        # Our informer had not seen our own earlier create yet: the RS is the new one.
        template = (rs.get("spec") or {}).get("template") or {}
        return is_controlled_by(rs, self.d) and equal_ignore_hash(
            template, self.spec.get("template") or {}
        )

    async def _bump_collision_count(self) -> None:
        """Someone else's RS has our name: change the hash input and try again."""
        self.status["collisionCount"] = int(self.status.get("collisionCount") or 0) + 1
        with contextlib.suppress(ApiError):  # the sync fails either way and is retried
            await self._update_status()

    # -- scaling -------------------------------------------------------------------------

    async def scale_rs(self, rs: JSON, new_scale: int, operation: str) -> bool:
        """Set an RS's replicas and replica annotations; True if its size changed."""
        old_scale = du.spec_replicas(rs)
        size_changes = old_scale != new_scale
        desired = du.spec_replicas(self.d)
        max_replicas = desired + du.max_surge(self.d)
        if not size_changes and not du.replicas_annotations_need_update(rs, desired, max_replicas):
            return False
        updated = copy.deepcopy(rs)
        updated["spec"]["replicas"] = new_scale
        du.set_replicas_annotations(updated, desired, max_replicas)
        fresh = await self.client.update(self._rs_path(rs), updated)
        _replace(rs, typed_copy(fresh, "apps/v1", "ReplicaSet"))
        if size_changes:
            self._event("Normal", "ScalingReplicaSet", "Scale",
                        f"Scaled {operation} replica set {meta(rs)['name']} "
                        f"from {old_scale} to {new_scale}", rs)
        return size_changes

    async def scale_and_record(self, rs: JSON, new_scale: int) -> bool:
        current = du.spec_replicas(rs)
        if current == new_scale:
            return False
        return await self.scale_rs(rs, new_scale, "up" if current < new_scale else "down")

    async def scale(self, new_rs: JSON | None, old: list[JSON]) -> None:
        """Scale for a replicas change (or a paused Deployment): proportionally, mid-rollout.

        During a rollout both ReplicaSets get their share of the change, in proportion to
        their size, so the surge budget is honoured and neither revision is favoured.
        """
        desired = du.spec_replicas(self.d)
        settled = du.find_active_or_latest(new_rs, old)
        if settled is not None:
            if du.spec_replicas(settled) != desired:
                await self.scale_and_record(settled, desired)
            return
        if du.is_saturated(self.d, new_rs):
            for rs in du.active(old):
                await self.scale_and_record(rs, 0)
            return
        if not du.is_rolling(self.d):
            return
        rses = du.active([*old, new_rs])
        allowed = desired + du.max_surge(self.d) if desired > 0 else 0
        to_add = allowed - du.replica_count(rses)
        operation = ""
        if to_add > 0:
            # Larger first; among equals the newer one gets the leftover.
            rses.sort(key=lambda r: du.creation_key(r), reverse=True)
            rses.sort(key=du.spec_replicas, reverse=True)
            operation = "up"
        elif to_add < 0:
            rses.sort(key=du.creation_key)
            rses.sort(key=du.spec_replicas, reverse=True)
            operation = "down"
        sizes: dict[str, int] = {}
        added = 0
        for rs in rses:
            share = du.proportion(rs, self.d, to_add, added) if to_add else 0
            sizes[meta(rs)["name"]] = du.spec_replicas(rs) + share
            added += share
        for i, rs in enumerate(rses):
            name = meta(rs)["name"]
            if i == 0 and to_add:
                sizes[name] = max(0, sizes[name] + to_add - added)
            await self.scale_rs(rs, sizes[name], operation)

    # -- rolling update ------------------------------------------------------------------

    async def rollout_rolling(self) -> None:
        new_rs, old = await self.get_all(create=True)
        assert new_rs is not None  # create=True always yields one (or raises)
        all_rses: list[JSON | None] = [*old, new_rs]
        if await self.reconcile_new_rs(all_rses, new_rs):
            await self.sync_rollout_status(all_rses, new_rs)
            return
        if await self.reconcile_old_rses(all_rses, du.active(old), new_rs):
            await self.sync_rollout_status(all_rses, new_rs)
            return
        if du.deployment_complete(self.d, self.status):
            await self.cleanup(old)
        await self.sync_rollout_status(all_rses, new_rs)

    async def reconcile_new_rs(self, all_rses: list[JSON | None], new_rs: JSON) -> bool:
        desired = du.spec_replicas(self.d)
        current = du.spec_replicas(new_rs)
        if current == desired:
            return False
        if current > desired:
            return await self.scale_and_record(new_rs, desired)
        return await self.scale_and_record(new_rs, du.new_rs_new_replicas(self.d, all_rses, new_rs))

    async def reconcile_old_rses(
        self, all_rses: list[JSON | None], old: list[JSON], new_rs: JSON
    ) -> bool:
        """Scale old ReplicaSets down as far as maxUnavailable allows.

        Budget = all pods asked for, minus the minimum that must stay available, minus the
        new RS's pods that are not available yet (they may never become so).
        """
        if du.replica_count(old) == 0:
            return False
        min_available = du.spec_replicas(self.d) - du.max_unavailable(self.d)
        new_unavailable = du.spec_replicas(new_rs) - du.status_int(new_rs, "availableReplicas")
        max_scaled_down = du.replica_count(all_rses) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = await self.cleanup_unhealthy_replicas(old, max_scaled_down)
        scaled = await self.scale_down_old_for_rolling([*old, new_rs], old)
        return cleaned + scaled > 0

    async def cleanup_unhealthy_replicas(self, old: list[JSON], max_cleanup: int) -> int:
        """Drop old pods that are not available first: they would block the rollout."""
        total = 0
        for rs in sorted(old, key=du.creation_key):
            if total >= max_cleanup:
                break
            replicas = du.spec_replicas(rs)
            available = du.status_int(rs, "availableReplicas")
            if replicas == 0 or replicas == available:
                continue
            count = min(max_cleanup - total, replicas - available)
            if count < 0:
                # The RS's status still counts pods of a size it no longer has: acting on
                # it would scale *up* an old RS (or later scale down too far). Retry once
                # the replicaset controller has caught up, as the real controller does.
                raise RetryLater(f"{meta(rs)['name']}: status shows {available} available "
                                   f"for {replicas} replicas; waiting for a fresh status")
            await self.scale_and_record(rs, replicas - count)
            total += count
        return total

    async def scale_down_old_for_rolling(self, all_rses: list[JSON], old: list[JSON]) -> int:
        min_available = du.spec_replicas(self.d) - du.max_unavailable(self.d)
        available = du.available_count(all_rses)
        if available <= min_available:
            return 0
        budget = available - min_available
        total = 0
        for rs in sorted(old, key=du.creation_key):
            if total >= budget:
                break
            replicas = du.spec_replicas(rs)
            if replicas == 0:
                continue
            count = min(replicas, budget - total)
            await self.scale_and_record(rs, replicas - count)
            total += count
        return total

    # -- recreate ------------------------------------------------------------------------

    async def rollout_recreate(self) -> None:
        """Old ReplicaSets to zero; once their pods are all gone, the new one to full size."""
        new_rs, old = await self.get_all(create=False)
        all_rses: list[JSON | None] = [*old, new_rs]
        scaled_down = False
        for rs in du.active(old):
            scaled_down = await self.scale_and_record(rs, 0) or scaled_down
        if scaled_down or self.old_pods_running(new_rs, old):
            await self.sync_rollout_status(all_rses, new_rs)
            return
        if new_rs is None:
            new_rs, old = await self.get_all(create=True)
            assert new_rs is not None
            all_rses = [*old, new_rs]
        await self.scale_and_record(new_rs, du.spec_replicas(self.d))
        if du.deployment_complete(self.d, self.status):
            await self.cleanup(old)
        await self.sync_rollout_status(all_rses, new_rs)

    def old_pods_running(self, new_rs: JSON | None, old: list[JSON]) -> bool:
        """Whether any pod of an old ReplicaSet still exists (terminating ones count)."""
        if du.actual_count(old) > 0:
            return True
        old_uids = {meta(rs).get("uid") for rs in old}
        new_uid = meta(new_rs).get("uid") if new_rs is not None else None
        for pod in self.ctl.pods_in(self.ns):
            ref = controller_of(pod)
            if ref is None or ref.get("uid") == new_uid or ref.get("uid") not in old_uids:
                continue
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
                continue
            return True
        return False

    # -- paused / scaling ----------------------------------------------------------------

    async def check_paused_conditions(self) -> None:
        if not du.has_progress_deadline(self.d):
            return
        cond = du.get_condition(self.status, du.PROGRESSING)
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return  # a reported lack of progress is not hidden behind "paused"
        paused_reported = cond is not None and cond.get("reason") == du.PAUSED
        if self.spec.get("paused") and not paused_reported:
            new = du.new_condition(du.PROGRESSING, "Unknown", du.PAUSED,
                                   "Deployment is paused", self._now())
        elif not self.spec.get("paused") and paused_reported:
            new = du.new_condition(du.PROGRESSING, "Unknown", du.RESUMED,
                                   "Deployment is resumed", self._now())
        else:
            return
        du.set_condition(self.status, new)
        await self._update_status()

    async def is_scaling_event(self) -> bool:
        """spec.replicas changed since the active ReplicaSets were last sized."""
        new_rs, old = await self.get_all(create=False)
        desired = str(du.spec_replicas(self.d))
        for rs in du.active([*old, new_rs]):
            annotated = du.annotations_of(rs).get(du.DESIRED_REPLICAS)
            if annotated is not None and annotated != desired:
                return True
        return False

    async def sync(self) -> None:
        """Scale only — no new ReplicaSet, no rollout step (paused or replicas change)."""
        new_rs, old = await self.get_all(create=False)
        await self.scale(new_rs, old)
        if self.spec.get("paused"):
            await self.cleanup(old)
        await self.sync_deployment_status([*old, new_rs], new_rs)

    async def sync_status_only(self) -> None:
        new_rs, old = await self.get_all(create=False)
        await self.sync_deployment_status([*old, new_rs], new_rs)

    # -- history and status --------------------------------------------------------------

    async def cleanup(self, old: list[JSON]) -> None:
        """Delete the oldest idle ReplicaSets beyond revisionHistoryLimit."""
        limit = self.spec.get("revisionHistoryLimit")
        if limit is None:
            return
        cleanable = [rs for rs in old if not is_terminating(rs)]
        excess = len(cleanable) - int(limit)
        if excess <= 0:
            return
        cleanable.sort(key=lambda rs: (du.revision(rs), *du.creation_key(rs)))
        for rs in cleanable[:excess]:
            busy = (
                du.status_int(rs, "replicas") != 0
                or du.spec_replicas(rs) != 0
                or int(meta(rs).get("generation") or 0) > du.status_int(rs, "observedGeneration")
            )
            if not busy:
                await self.client.delete(self._rs_path(rs), uid=meta(rs).get("uid"))

    async def sync_deployment_status(
        self, all_rses: list[JSON | None], new_rs: JSON | None
    ) -> None:
        new_status = du.calculate_status(all_rses, new_rs, self.d, self._now())
        if du.same_status(self.status, new_status):
            return
        self.d["status"] = new_status
        await self._update_status()

    async def sync_rollout_status(self, all_rses: list[JSON | None], new_rs: JSON | None) -> None:
        """Status plus the Progressing condition: progressed, progressing, or timed out."""
        now = self._now()
        new_status = du.calculate_status(all_rses, new_rs, self.d, now)
        if not du.has_progress_deadline(self.d):
            du.remove_condition(new_status, du.PROGRESSING)
        current = du.get_condition(self.status, du.PROGRESSING)
        complete_before = (
            int(new_status.get("replicas") or 0) == int(new_status.get("updatedReplicas") or 0)
            and current is not None and current.get("reason") == du.NEW_RS_AVAILABLE
        )
        if du.has_progress_deadline(self.d) and not complete_before:
            self._update_progressing(new_status, current, new_rs, now)
        failure = self._replica_failure(all_rses, new_rs, now)
        if failure is not None:
            du.set_condition(new_status, failure)
        else:
            du.remove_condition(new_status, du.REPLICA_FAILURE)
        if du.same_status(self.status, new_status):
            self.requeue_stuck(new_status)
            return
        self.d["status"] = new_status
        await self._update_status()

    def _update_progressing(
        self, new_status: JSON, current: JSON | None, new_rs: JSON | None, now: str
    ) -> None:
        subject = (f'ReplicaSet "{meta(new_rs)["name"]}"' if new_rs is not None
                   else f'Deployment "{self.name}"')
        if du.deployment_complete(self.d, new_status):
            du.set_condition(new_status, du.new_condition(
                du.PROGRESSING, "True", du.NEW_RS_AVAILABLE,
                f"{subject} has successfully progressed.", now))
        elif du.deployment_progressing(self.d, new_status):
            cond = du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED,
                                    f"{subject} is progressing.", now)
            # Same reason but fresh lastUpdateTime: progress restarts the deadline clock.
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                du.remove_condition(new_status, du.PROGRESSING)
            du.set_condition(new_status, cond)
        elif du.deployment_timed_out(self.d, new_status, self.clock.now()):
            du.set_condition(new_status, du.new_condition(
                du.PROGRESSING, "False", du.TIMED_OUT,
                f"{subject} has timed out progressing.", now))

    @staticmethod
    def _replica_failure(
        all_rses: list[JSON | None], new_rs: JSON | None, now: str
    ) -> JSON | None:
        """Surface a ReplicaSet's ReplicaFailure (e.g. quota) on the Deployment."""
        for rs in [new_rs, *all_rses]:
            if rs is None:
                continue
            cond = du.get_condition(rs.get("status") or {}, du.REPLICA_FAILURE)
            if cond is not None:
                return du.new_condition(du.REPLICA_FAILURE, str(cond.get("status")),
                                        str(cond.get("reason", "")),
                                        str(cond.get("message", "")), now)
        return None

    def requeue_stuck(self, new_status: JSON) -> None:
        """Come back when the progress deadline would pass, to report it on time.

        No watch event will fire for "nothing happened", so the controller sets its own
        alarm: lastUpdateTime + progressDeadlineSeconds.
        """
        current = du.get_condition(self.status, du.PROGRESSING)
        if not du.has_progress_deadline(self.d) or current is None:
            return
        if du.deployment_complete(self.d, new_status) or current.get("reason") == du.TIMED_OUT:
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        after = since + du.progress_deadline(self.d) - self.clock.now()
        # Timestamps have whole seconds: one more second makes sure the deadline has passed
        # (and avoids spinning while it is less than a second away).
        self.ctl.enqueue_after(self.key, max(after, 0.0) + 1.0)
