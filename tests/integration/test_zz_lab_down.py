"""Last module: `lab down` stops every lab process by pid and leaves nothing behind."""
import subprocess

import pytest

pytestmark = pytest.mark.lab


def test_lab_down_leaves_no_process_namespace_or_listener(lab):
    pids = [lab.host_pidfile(n).read_text().strip() for n in lab.nodes]
    pids.append(lab.haproxy_pidfile.read_text().split()[0])
    cp = subprocess.run([".venv/bin/upgrader", "lab", "down"], capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    for pid in pids:
        assert subprocess.run(["kill", "-0", pid], capture_output=True).returncode != 0, pid
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n.netns in netns for n in lab.nodes)
    assert subprocess.run(["ip", "link", "show", lab.bridge], capture_output=True).returncode != 0
    listeners = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    assert lab.vip + ":" not in listeners
    assert not lab.root.exists()
