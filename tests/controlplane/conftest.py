"""Fixtures for tests against a real control plane (scripts/build-controlplane.sh).

The binaries come from ``$KUBEBUILDER_ASSETS`` or the build script's cache dir.
When they are missing the tests are skipped locally, but fail under ``CI=true``:
CI must build them, a silent skip there would hide that nothing ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kwatch.testing.controlplane import (
    Binaries,
    ControlPlane,
    find_binaries,
    missing_binaries_reason,
)
from kwatch.testing.fakenodes import FakeNodesThread

FAKE_NODES = ("kwatch-node-0", "kwatch-node-1")


@pytest.fixture(scope="session")
def controlplane_binaries() -> Binaries:
    bins = find_binaries()
    if bins is None:
        reason = missing_binaries_reason()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return bins


@pytest.fixture(scope="session")
def controlplane(controlplane_binaries: Binaries) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler, started once
    per session; ready (default ServiceAccount exists) when yielded."""
    cp = ControlPlane(controlplane_binaries, node_monitor_grace_period=20)
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def fake_nodes(controlplane: ControlPlane) -> Iterator[FakeNodesThread]:
    """Two fake Nodes, Ready and untainted, heartbeating every 5 s."""
    nodes = FakeNodesThread(
        controlplane.url, controlplane.admin_ssl_context(), FAKE_NODES, heartbeat=5
    )
    nodes.start(wait_schedulable=120)
    try:
        yield nodes
    finally:
        nodes.stop()
