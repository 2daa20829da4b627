"""kwatch: see Kubernetes controllers work."""

__version__ = "0.1.0"
