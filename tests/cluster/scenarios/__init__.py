"""Cluster test scenarios: one module each, with NAME, DESCRIPTION, an
optional NODE_CONFIG (merged into every node's starling.json) and
run(c, w, opts) -> the checker's result. `c` is the cluster (nodes, links,
faults), `w` the workload (writers, ledger, checker), `opts` has .seed and
.soak. See tests/cluster/README.md."""
