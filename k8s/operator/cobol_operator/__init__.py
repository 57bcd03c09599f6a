"""The CobolCluster operator (kopf).

Layered as kopf itself is: `handlers` (thin kopf entry points) call `reconcile`, which asks
`render` (pure: desired objects from the spec and topology.yaml), `drain` and `status` (pure:
scale-down steps and conditions from the pods) what to do, and `kube` (a small apply layer over
the Kubernetes REST API) to do it.
"""
