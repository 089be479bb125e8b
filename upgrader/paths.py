"""Where upgrader keeps its files, decided once, as absolute paths, at the boundary.

Nothing below this module sees a relative path: ansible-playbook runs in another
working directory, and `status` from another terminal must find the same run.

Precedence, first that is set wins (docs/cli.md, "Where files go"):

1. the environment: UPGRADER_PLANS, UPGRADER_RUNS, UPGRADER_STATE;
2. the config file: $UPGRADER_CONFIG, else /etc/upgrader/config.yml, with keys
   ``plans_dir``, ``runs_dir``, ``state_dir`` (relative values are relative to
   the config file's directory);
3. the defaults: run from a source checkout (the demo), plans and runs live in the
   checkout's ``plans/`` and ``runs/``; installed, under the state directory.

The state directory (default /var/lib/upgrader as root, else
$XDG_STATE_HOME/upgrader) holds what must be one per machine whatever directory a
command runs from: each cluster's lock and the pointer to its current run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from upgrader.errors import ConfigError

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent
SYSTEM_CONFIG = Path("/etc/upgrader/config.yml")
PATH_MAX = 4095          # Linux PATH_MAX less the NUL; longer paths fail in the kernel
CONFIG_KEYS = ("plans_dir", "runs_dir", "state_dir")


def absolute(path: str | os.PathLike[str], what: str, base: Path | None = None) -> Path:
    """``path`` made absolute (against ``base``, else the current directory), checked for length."""
    text = os.fspath(path)
    if not text or "\0" in text:
        raise ConfigError(f"{what}: empty or invalid path")
    if len(text) > PATH_MAX:
        raise ConfigError(f"{what}: path is {len(text)} characters long (the limit is {PATH_MAX})")
    p = Path(text).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return Path(os.path.normpath(p))


def from_checkout() -> bool:
    """True when this package runs from a source checkout (an editable install, the demo)."""
    return (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "playbooks").is_dir()


def playbooks_dir() -> Path:
    """The step playbooks: shipped inside the package, or the checkout's ``playbooks/``."""
    for candidate in (PACKAGE / "playbooks", CHECKOUT / "playbooks"):
        if (candidate / "stop_services.yml").is_file():
            return candidate
    raise ConfigError(f"no playbooks found in {PACKAGE / 'playbooks'} or {CHECKOUT / 'playbooks'}; "
                      "reinstall upgrader")


def _default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/upgrader")
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "upgrader"


def _config_file() -> Path | None:
    named = os.environ.get("UPGRADER_CONFIG")
    if named:
        p = absolute(named, "UPGRADER_CONFIG")
        if not p.is_file():
            raise ConfigError(f"config file {p} (UPGRADER_CONFIG): no such file")
        return p
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def _read_config(path: Path | None) -> dict[str, Path]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"config file {path}: unreadable: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping ({', '.join(CONFIG_KEYS)})")
    unknown = sorted(set(map(str, data)) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown key {unknown[0]!r} "
                          f"(known: {', '.join(CONFIG_KEYS)})")
    return {k: absolute(str(v), f"config file {path}: {k}", base=path.parent)
            for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Locations:
    plans: Path
    runs: Path
    state: Path
    source: dict[str, str]        # key -> where its value came from, for `upgrader where`

    @property
    def clusters(self) -> Path:
        """One lock and one current-run pointer per cluster (upgrader.registry)."""
        return self.state / "clusters"

    @property
    def control_sockets(self) -> Path:
        """SSH ControlPath directory: short (sun_path is 108 bytes) and private."""
        return self.state / "cp"


def locations() -> Locations:
    """Where plans, runs and the state go, by the precedence in the module docstring."""
    config_path = _config_file()
    config = _read_config(config_path)
    found: dict[str, Path] = {}
    source: dict[str, str] = {}
    for key, env in (("plans_dir", "UPGRADER_PLANS"), ("runs_dir", "UPGRADER_RUNS"),
                     ("state_dir", "UPGRADER_STATE")):
        if os.environ.get(env):
            found[key], source[key] = absolute(os.environ[env], env), f"${env}"
        elif key in config:
            found[key], source[key] = config[key], f"config file {config_path}"
    state = found.get("state_dir") or _default_state_dir()
    source.setdefault("state_dir", "default")
    home = CHECKOUT if from_checkout() else state
    kind = "default (the source checkout)" if from_checkout() else "default"
    plans = found.get("plans_dir") or home / "plans"
    runs = found.get("runs_dir") or home / "runs"
    source.setdefault("plans_dir", kind)
    source.setdefault("runs_dir", kind)
    return Locations(plans=plans, runs=runs, state=state, source=source)


def private_dir(path: Path, what: str) -> Path:
    """``path`` as a directory only this user can enter: created 0700, or checked if it exists.

    A directory someone else made first (a predictable name under /tmp, say) is
    refused rather than used: whoever owns it could read or replace our files.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = path.lstat()
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot be created: {e.strerror or e}") from None
    if not path.is_dir() or path.is_symlink():
        raise ConfigError(f"{what} {path}: not a directory")
    if st.st_uid != os.geteuid():
        raise ConfigError(f"{what} {path}: owned by uid {st.st_uid}, not by this user; remove it")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)      # ours, but too open (an older upgrader made it 0755)
    return path


def writable_dir(path: Path, what: str) -> Path:
    """``path`` created (0700) and checked writable before anything is written there."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be created: {e.strerror or e}") from None
    if not path.is_dir():
        raise ConfigError(f"{what} {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path} is not writable")
    return path
