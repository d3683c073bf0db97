"""`stratops cluster`: a real Kubernetes control plane and Flux on 127.0.0.1, built from pinned Go modules.

certs (keys, certificates, kubeconfigs) · processes (start, health, stop) · gitserver (the fleet over smart
HTTP) · bootstrap (flux-system as `flux bootstrap` lays it out) · kube (apply, readiness, reconcile requests) ·
components (where the built binaries are) · controlplane (up, down, status).
"""
