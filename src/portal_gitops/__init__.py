"""portal-gitops: manage a Tyk Developer Portal from manifests in Git."""

__version__ = "0.1.0"
