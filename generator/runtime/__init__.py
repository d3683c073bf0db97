"""The local runtime: `stratops up` runs the fleet repo's main branch on one machine.

Named after what it imitates: `source` watches the branch like Flux's source-controller,
`admission` renders and admits each strategy folder like helm-controller plus the
admission webhooks, `pod` and `sandbox` run one executor like the kubelet and the
container runtime, `services` runs the feed and the sink, `runtime` ties them into
one reconcile loop, and `status` is the state file other tools read.
"""
