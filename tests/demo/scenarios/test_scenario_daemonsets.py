"""daemonset-ondelete vs daemonset-rollingupdate."""

from __future__ import annotations

import pytest
from scenario_play import assert_as_expected, play

from kwatch.core.hazards import DAEMONSET_OUTDATED
from kwatch.core.steps import StepName


@pytest.mark.slow
async def test_ondelete_leaves_pods_outdated_until_each_is_deleted() -> None:
    r = await play("daemonset-ondelete")
    assert_as_expected(r)
    old = r.facts["old_revision"]
    assert set(r.facts["after_update"].values()) == {old}
    after_first = r.facts["after_first_delete"]
    assert [n for n, rev in sorted(after_first.items()) if rev != old] == ["node-1"]
    assert old not in set(r.facts["at_end"].values())
    # Every deletion came from the user, none from the daemonset controller.
    deleters = {s.actor for s in r.steps if s.step == StepName.DELETION_REQUESTED}
    assert deleters and "daemonset-controller" not in deleters
    # Outdated from the template change until the rollout completed with the last pod.
    [outdated] = [h for h in r.hazards if h.kind == DAEMONSET_OUTDATED]
    [updated] = [s for s in r.steps if s.step == StepName.DAEMONSET_UPDATED]
    [complete] = [s for s in r.steps if s.step == StepName.DAEMONSET_ROLLOUT_COMPLETE
                  and s.t > updated.t]
    assert (outdated.t, outdated.open) == (updated.t, False)
    assert outdated.window_s == round(complete.t - updated.t, 3)

async def test_rollingupdate_replaces_every_pod_itself() -> None:
    r = await play("daemonset-rollingupdate")
    assert_as_expected(r)
    old = r.facts["old_revision"]
    assert old not in set(r.facts["at_end"].values())
    assert not set(r.facts["old_uids"]) & set(r.facts["end_uids"])
    # One node at a time: between two deletions of old pods, a new pod became Ready.
    old_uids = set(r.facts["old_uids"])
    seq = [("delete" if s.uid in old_uids else None) if s.step == StepName.DELETION_REQUESTED
           else ("ready" if s.uid not in old_uids else None)
           for s in r.steps if s.step in (StepName.DELETION_REQUESTED, StepName.POD_READY)]
    seq = [x for x in seq if x is not None]
    assert seq.count("delete") == 3 and seq.count("ready") == 3
    assert seq == ["delete", "ready"] * 3
    assert not [h for h in r.hazards if h.kind == DAEMONSET_OUTDATED]
