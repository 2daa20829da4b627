"""The embedded Kubernetes API server's parts; kwatch.demo.apiserver assembles them.

storage (objects under one global resourceVersion, history, watch fan-out), handlers
(REST routing and verbs), watch_stream, selectors, patch and strategic (patch types),
defaults and validation (registry strategies), discovery, openapi, tables (kubectl
output), certs (TLS), gc (owner references).
"""
