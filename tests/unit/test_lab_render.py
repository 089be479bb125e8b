"""The lab's rendered files: what each host and HAProxy get, and that no secret leaks."""
import configparser
import subprocess
from pathlib import Path

import pytest

from upgrader.lab import render
from upgrader.lab.config import LabConfig

CFG = LabConfig(root=Path("/srv/lab"), cache=Path("/srv/cache"))
SEC = render.LabSecrets("dbpw-upgrader-xyz", "dbpw-keystone-xyz", "admin-pw-xyz", "rabbit-pw-xyz",
                        "COOKIE0123456789")


def test_nodes_have_distinct_addresses_on_the_lab_subnet():
    assert [n.address for n in CFG.nodes] == ["10.123.0.11", "10.123.0.12", "10.123.0.13"]
    assert CFG.gateway == "10.123.0.1"
    assert CFG.vip == "10.123.0.100"   # not the gateway: with keepalived a host holds it


@pytest.mark.parametrize("node", CFG.nodes, ids=lambda n: n.name)
def test_galera_config_names_this_node_and_every_peer(node):
    cnf = configparser.ConfigParser(strict=False, allow_no_value=True)
    cnf.read_string(render.galera_cnf(CFG, node))
    g = cnf["galera"]
    assert g["wsrep_node_address"] == node.address
    assert g["wsrep_cluster_address"] == "gcomm://10.123.0.11,10.123.0.12,10.123.0.13"
    assert "gcache.size=128M" in g["wsrep_provider_options"]
    assert g["port"] == "3306"  # else wsrep_incoming_addresses shows IP:0
    assert cnf["mysqld_safe"]["log_error"] == "/var/log/mysql/error.log"


def test_haproxy_mysql_backend_is_one_active_two_backups():
    text = render.haproxy_cfg(CFG)
    db = text.split("listen mariadb")[1].split("listen keystone")[0]
    servers = [l.split() for l in db.splitlines() if l.strip().startswith("server")]
    assert [s[1] for s in servers] == ["node1", "node2", "node3"]
    assert ["backup" in s for s in servers] == [False, True, True]
    assert "bind 10.123.0.100:3306" in db
    api = text.split("listen keystone")[1]
    assert api.count("server node") == 3 and "backup" not in api
    assert "option httpchk GET /v3" in api


@pytest.mark.parametrize("in_host", [False, True], ids=["dedicated", "in a host"])
def test_haproxy_config_is_accepted_by_haproxy(tmp_path, in_host):
    cfg = LabConfig(root=tmp_path, cache=tmp_path)
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(render.haproxy_cfg(cfg, in_host=in_host))
    cp = subprocess.run(["haproxy", "-c", "-f", str(conf)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr


def test_haproxy_in_a_host_uses_debians_paths_and_keeps_states_across_its_restart():
    text = render.haproxy_cfg(CFG, in_host=True)
    assert "stats socket /run/haproxy/admin.sock " in text
    assert "server-state-file /var/lib/haproxy/server-state" in text
    assert "load-server-state-from-file global" in text
    assert "/srv/lab" not in text


@pytest.mark.parametrize("node", CFG.nodes, ids=lambda n: n.name)
def test_keepalived_holds_the_vip_by_unicast_vrrp_without_preempting(node):
    text = render.keepalived_conf(CFG, node)
    peers = text.split("unicast_peer {")[1].split("}")[0].split()
    assert peers == [n.address for n in CFG.nodes if n != node]
    assert f"unicast_src_ip {node.address}" in text
    assert "10.123.0.100/24 dev eth0" in text
    assert "nopreempt" in text and "state BACKUP" in text   # nopreempt needs BACKUP
    assert "notify /etc/keepalived/notify.sh" in text


def test_keepalived_priorities_make_node1_the_first_holder():
    priority = {n.name: int(render.keepalived_conf(CFG, n).split("priority ")[1].split()[0]) for n in CFG.nodes}
    assert priority["node1"] > priority["node2"] > priority["node3"]


def test_keepalived_config_is_accepted_by_keepalived(tmp_path):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(render.keepalived_conf(CFG, CFG.nodes[0]).replace("/etc/keepalived/notify.sh", "/bin/true"))
    cp = subprocess.run(["keepalived", "--config-test", "-f", str(conf)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr + cp.stdout


def test_the_controllers_inventory_puts_haproxy_and_keepalived_on_every_node():
    text = render.inventory(CFG, "controllers")
    groups: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
            groups[current] = []
        elif line.strip() and not line.startswith("#") and current and ":" not in current:
            groups[current].append(line.split()[0])
    assert groups["haproxy"] == groups["keepalived"] == ["node1", "node2", "node3"]
    assert groups["galera_arbitrator"] == ["lb"]          # garbd stays off the rolled nodes
    assert "haproxy_admin_socket=/run/haproxy/admin.sock" in text
    assert "galera_arbitrator_address=10.123.0.1 " in text  # the gateway: the VIP may move


def test_inventory_has_the_standard_groups_and_no_secret():
    text = render.inventory(CFG)
    groups = {l.strip("[]") for l in text.splitlines() if l.startswith("[")}
    assert {"galera", "rabbitmq", "keystone", "haproxy", "controllers"} <= groups
    assert "node2 ansible_host=10.123.0.12" in text
    for secret in SEC.values():
        assert secret not in text


def test_keystone_config_uses_the_vip_and_shared_key_repositories():
    text = render.keystone_conf(CFG, CFG.nodes[1], SEC)
    assert "@10.123.0.100:3306/keystone" in text
    assert "key_repository = /etc/keystone/fernet-keys" in text


def test_keystone_hashes_the_lab_passwords_at_bcrypts_cheapest_cost():
    # the probe's password logins must not eat the two cores the roll runs on
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(render.keystone_conf(CFG, CFG.nodes[0], SEC))
    assert conf["identity"]["password_hash_rounds"] == "4"


@pytest.mark.parametrize("script", [render.KEYSTONE_INIT, render.host_init(CFG, CFG.nodes[0])],
                         ids=["keystone init script", "host init"])
def test_shell_scripts_parse(script, tmp_path):
    path = tmp_path / "s.sh"
    path.write_text(script)
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0


def test_keystone_init_script_never_stops_by_name():
    assert "killall" not in render.KEYSTONE_INIT and "pkill" not in render.KEYSTONE_INIT
    assert "--pidfile" in render.KEYSTONE_INIT


def test_fernet_keys_are_valid_fernet_keys():
    import base64

    key = render.fernet_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert key != render.fernet_key()


def test_secrets_yaml_round_trips(tmp_path):
    import yaml

    data = yaml.safe_load(SEC.to_yaml())
    assert data["rabbitmq_password"] == "rabbit-pw-xyz"
    assert set(data) == {"mariadb_upgrader_password", "keystone_db_password",
                         "keystone_admin_password", "rabbitmq_password", "erlang_cookie"}


def test_no_generated_password_reads_as_an_option():
    """A password is passed as a command argument (rabbitmqctl change_password): one that
    starts with "-" is parsed as an option and the lab's set-up fails (exit 64)."""
    for _ in range(500):
        generated = render.LabSecrets.generate()
        passwords = [generated.mariadb_upgrader_password, generated.keystone_db_password,
                     generated.keystone_admin_password, generated.rabbitmq_password]
        assert all(p[0].isalpha() and len(p) >= 24 for p in passwords), passwords
