"""The sandbox: local stand-ins that let a whole release run on one machine.

- ``fake_kube``: a small Kubernetes API server (real HTTP) with a toy Deployment controller;
  no kube-apiserver can run here. The README lists what it does not do.
- ``services``: ``shipflow sandbox up|down|status``.
- ``web_app``: the demo app, one process per version (the ``local`` target), behind HAProxy;
  ``load``: its users, a steady request rate through HAProxy, counted by version.
- ``metrics_app``: (tests) an app whose stable and canary versions serve simulated traffic
  into prometheus_client metrics, scraped by a real Prometheus; ``traffic`` splits that
  traffic the way the Kubernetes router says.
- ``cluster``: the objects of a small app (Deployment, Services, HTTPRoute, …).

Used by ``shipflow demo``, the test suite and the benchmarks.
"""
