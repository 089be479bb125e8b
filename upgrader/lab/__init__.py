"""The local lab: a real 3-node control plane on this machine (`upgrader lab`)."""
