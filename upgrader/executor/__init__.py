"""Effects of a roll: running step playbooks (runner), and sequencing them (orchestrator).

Deliberately empty: importing ``upgrader.executor.orchestrator`` must not load
ansible-runner; only ``upgrader.executor.runner`` imports it.
"""
