"""The demo's kube-controller-manager: controllers that are ordinary API clients.

`base` holds the controller pattern (informers → work queue → reconcile) and the
registry; `manager` runs the registered controllers behind leader election (`leader`).
"""
