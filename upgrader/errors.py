"""One exception family, caught once at each edge (CLI, orchestrator)."""


class UpgraderError(Exception):
    """Base of every error upgrader reports to the operator as one line."""

    exit_code = 1


class ConfigError(UpgraderError):
    """Bad input: a malformed inventory, facts file, plan file or option."""

    exit_code = 2


class LabError(UpgraderError):
    """The local lab could not be brought up, inspected or torn down."""


class ProbeError(UpgraderError):
    """A probe could not read a fact from the live cluster (unreachable, bad credentials)."""

    exit_code = 2          # refused: nothing was changed


class UnsafeCluster(UpgraderError):
    """The cluster is not in a state where the requested action is safe."""

    exit_code = 2


class StepFailed(UpgraderError):
    """A roll step did not reach its verified end state."""


class JournalCorrupt(UpgraderError):
    """The run journal cannot be replayed."""

    exit_code = 2


class LockHeld(UpgraderError):
    """Another upgrader process holds the cluster lock."""

    exit_code = 2
