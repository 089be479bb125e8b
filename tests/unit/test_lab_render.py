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
    assert CFG.vip == "10.123.0.1"


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
    assert "bind 10.123.0.1:3306" in db
    api = text.split("listen keystone")[1]
    assert api.count("server node") == 3 and "backup" not in api
    assert "option httpchk GET /v3" in api


def test_haproxy_config_is_accepted_by_haproxy(tmp_path):
    cfg = LabConfig(root=tmp_path, cache=tmp_path)
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(render.haproxy_cfg(cfg))
    cp = subprocess.run(["haproxy", "-c", "-f", str(conf)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr


def test_inventory_has_the_standard_groups_and_no_secret():
    text = render.inventory(CFG)
    groups = {l.strip("[]") for l in text.splitlines() if l.startswith("[")}
    assert {"galera", "rabbitmq", "keystone", "haproxy", "controllers"} <= groups
    assert "node2 ansible_host=10.123.0.12" in text
    for secret in SEC.values():
        assert secret not in text


def test_keystone_config_uses_the_vip_and_shared_key_repositories():
    text = render.keystone_conf(CFG, CFG.nodes[1], SEC)
    assert "@10.123.0.1:3306/keystone" in text
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
