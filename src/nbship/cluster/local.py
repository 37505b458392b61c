"""A Swarm of Docker Engines on this machine, one per network namespace, that leaves this host's
own engine (and any swarm it is in, and the stacks running on it) alone.

Docker-in-Docker needs privileged containers, which cannot start everywhere; an engine in a
network namespace needs only root. Each node K of cluster NAME is:

- a network namespace NAME-nK, joined to a bridge NAME-br by a veth pair. The host holds
  SUBNET.1 on the bridge and node K holds SUBNET.(10+K), so the nodes reach each other and the
  host directly, with every port Swarm uses (2377/tcp to the manager, 7946 and 4789/udp between
  all);
- a dockerd started inside it by `nsenter --net` (`ip netns exec` remounts /sys, which the engine
  does not survive) and, through `unshare --uts`, under a host name of its own (NAME-nK), so
  `docker node ls` tells the nodes apart. Its image store is build/cluster/NAME/NAME-nK, empty at
  first: every image a node runs is pulled from the registry. Its socket and state are under
  /run/nbship-cluster/NAME/NAME-nK (a unix socket's path must stay under 108 bytes);
- a socat that makes each registry port of this host answer on 127.0.0.1 inside the namespace
  (through a second socat on SUBNET.1). Image references name `localhost:PORT`, and Docker pulls
  from a loopback registry without TLS, so a node pulls exactly what this host pushed, with the
  login that `docker stack deploy --with-registry-auth` hands to the swarm.

Node 1 starts the swarm as its manager; the others join as workers; each carries the node label
`nbship.zone=NAME-nK`, which the compose file's placement preferences spread the apps over.
Deploying to the cluster is deploying to a swarm: `DOCKER_HOST=unix://<node 1's socket>
invoke deploy --swarm`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nbship import docker
from nbship.errors import NbshipError
from nbship.paths import BUILD

RUN_ROOT = Path("/run/nbship-cluster")
DATA_ROOT = BUILD / "cluster"
NETNS_DIR = Path("/run/netns")
# Programs a cluster needs beyond docker: iproute2, util-linux, socat (Debian packages).
TOOLS = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "dockerd": "docker.io",
    "socat": "socat",
    "setsid": "util-linux",
    "iptables": "iptables",
}
ENGINE_START_SECONDS = 60
ENGINE_STOP_SECONDS = 30
# Interface names have at most 15 bytes: "NAME-nKp" is the longest this module makes.
_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_SUBNET = re.compile(r"^(10|172|192)\.\d{1,3}\.\d{1,3}$")

Say = Callable[[str], None]


@dataclass(frozen=True)
class Node:
    """One engine of the cluster: its namespace, address, socket and image store."""

    cluster: str
    index: int
    subnet: str

    @property
    def name(self) -> str:
        return f"{self.cluster}-n{self.index}"

    @property
    def address(self) -> str:
        return f"{self.subnet}.{10 + self.index}"

    @property
    def role(self) -> str:
        return "manager" if self.index == 1 else "worker"

    @property
    def netns(self) -> Path:
        return NETNS_DIR / self.name

    @property
    def run_dir(self) -> Path:
        return RUN_ROOT / self.cluster / self.name

    @property
    def data_dir(self) -> Path:
        return DATA_ROOT / self.cluster / self.name

    @property
    def log(self) -> Path:
        return self.data_dir / "dockerd.log"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.run_dir / 'docker.sock'}"

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`docker ARGS` against this node's engine."""
        return docker.run(["docker", "-H", self.docker_host, *args], capture=True, check=check)

    def answers(self) -> bool:
        return self.docker("info", "--format", "{{.ID}}", check=False).returncode == 0


@dataclass(frozen=True)
class LocalCluster:
    """SIZE engines in network namespaces on the bridge NAME-br (SUBNET.0/24), node 1 the
    manager, each able to pull from the registries on REGISTRY_PORTS of this host."""

    name: str = "nbship"
    size: int = 3
    subnet: str = "10.213.0"
    registry_ports: tuple[int, ...] = (5001,)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise NbshipError(
                f"cluster name {self.name!r}: use 1 to 8 lowercase letters and digits, "
                "starting with a letter (it names network interfaces)"
            )
        if not 1 <= self.size <= 9:
            raise NbshipError(f"cluster size {self.size}: a local cluster has 1 to 9 nodes")
        if not _SUBNET.match(self.subnet):
            raise NbshipError(
                f"cluster subnet {self.subnet!r}: give the first three numbers of a private "
                "/24 that nothing else on this machine uses, such as 10.213.0"
            )

    @property
    def nodes(self) -> list[Node]:
        return [Node(self.name, index, self.subnet) for index in range(1, self.size + 1)]

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    @property
    def bridge(self) -> str:
        return f"{self.name}-br"

    @property
    def host_address(self) -> str:
        return f"{self.subnet}.1"

    @property
    def run_dir(self) -> Path:
        return RUN_ROOT / self.name

    def up(self, say: Say = print) -> None:
        """Start the cluster from nothing (what an interrupted run left is removed first); on
        any failure, remove what was made and say why. A cluster of this name that runs is left
        as it is: up refuses."""
        _require_tools()
        if self.manager.answers():
            raise NbshipError(
                f"cluster {self.name} is running already (`invoke cluster.status` shows it; "
                f"`invoke cluster.down --name {self.name}` removes it)"
            )
        self.down()
        try:
            self._network()
            for node in self.nodes:
                self._start_engine(node)
                say(f"nbship: started engine {node.name} ({node.role}) at {node.address}")
            self._forward_registries()
            self._form_swarm()
        except BaseException:
            self.down()
            raise
        ports = ", ".join(f"localhost:{port}" for port in self.registry_ports)
        say(f"nbship: swarm of {self.size} node(s) formed; each pulls from {ports} on this host")

    def down(self) -> None:
        """Stop every engine and remove the namespaces, the bridge and the image stores; what
        is already gone is skipped, so it also cleans up after an interrupted `up`."""
        for node in reversed(self._made_nodes()):
            _stop_engine(node)
            for pid in _netns_pids(node):
                _kill(pid, signal.SIGKILL)
            _unmount_under(node.run_dir, node.data_dir)
            _ip("netns", "del", node.name, check=False)
            _ip("link", "del", node.name, check=False)
        for pid_file in self.run_dir.glob("forward-*.pid"):
            _kill(_read_pid(pid_file), signal.SIGTERM)
        while _iptables("-D", *self._forward_rule()).returncode == 0:
            pass
        _ip("link", "del", self.bridge, check=False)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        shutil.rmtree(DATA_ROOT / self.name, ignore_errors=True)

    def kill(self, node: Node) -> None:
        """Lose NODE as a machine that loses power would: off the network first, then its
        containers, its engine and everything else in its namespace killed at once. Swarm sees
        the node down once its heartbeats stop; `down` still cleans up after it."""
        _ip("-n", node.name, "link", "set", "eth0", "down", check=False)
        ids = node.docker("ps", "-q", check=False).stdout.split()
        pids = node.docker("inspect", "--format", "{{.State.Pid}}", *ids, check=False).stdout
        for pid in [*pids.split(), _read_pid(node.run_dir / "dockerd.pid"), *_netns_pids(node)]:
            _kill(int(pid) if pid else None, signal.SIGKILL)

    def _made_nodes(self) -> list[Node]:
        """This size's nodes, and any other NAME-nK namespace (a cluster made larger)."""
        listed = _ip("netns", "list", check=False).stdout.split()
        extra = {
            int(match.group(1))
            for word in listed
            if (match := re.fullmatch(rf"{self.name}-n(\d)", word))
        }
        indexes = sorted(extra | set(range(1, self.size + 1)))
        return [Node(self.name, index, self.subnet) for index in indexes]

    def describe(self) -> list[str]:
        """A line per node (name, role, address, state, containers), then how to use it."""
        lines = []
        for node in self.nodes:
            info = node.docker(
                "info",
                "--format",
                "{{.Swarm.LocalNodeState}} {{.ContainersRunning}} {{.Images}}",
                check=False,
            )
            if info.returncode != 0:
                lines.append(f"{node.name:<10} {node.role:<8} {node.address:<14} not answering")
                continue
            state, running, images = info.stdout.split()
            lines.append(
                f"{node.name:<10} {node.role:<8} {node.address:<14} swarm {state}, "
                f"{running} container(s) running, {images} image(s)"
            )
        lines.append(f"deploy to it:  DOCKER_HOST={self.manager.docker_host} invoke deploy --swarm")
        lines.append(f"the gateway answers on the manager's address: http://{self.manager.address}")
        return lines

    def _network(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host_address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        # With br_netfilter, traffic between the bridge's ports crosses FORWARD, whose policy
        # Docker sets to DROP: let the nodes talk to each other.
        _iptables("-I", *self._forward_rule(), check=True)
        for node in self.nodes:
            peer = f"{node.name}p"
            _ip("netns", "add", node.name)
            _ip("link", "add", node.name, "type", "veth", "peer", "name", peer)
            _ip("link", "set", node.name, "master", self.bridge, "up")
            _ip("link", "set", peer, "netns", node.name)
            inside = ["-n", node.name]
            _ip(*inside, "link", "set", peer, "name", "eth0")
            _ip(*inside, "addr", "add", f"{node.address}/24", "dev", "eth0")
            _ip(*inside, "link", "set", "eth0", "up")
            _ip(*inside, "link", "set", "lo", "up")
            _ip(*inside, "route", "add", "default", "via", self.host_address)

    def _forward_rule(self) -> list[str]:
        return ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]

    def _start_engine(self, node: Node) -> None:
        for folder in (node.run_dir, node.data_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = node.run_dir / "daemon.json"
        # An empty file of its own: the host's daemon.json may set data-root, which the flags set.
        config.write_text("{}\n")
        dockerd = [
            "dockerd", "--config-file", str(config),
            "--data-root", str(node.data_dir / "data"),
            "--exec-root", str(node.run_dir / "exec"),
            "--pidfile", str(node.run_dir / "dockerd.pid"),
            "-H", node.docker_host,
            "--storage-driver", _storage_driver(),
            "--shutdown-timeout", "5",
        ]  # fmt: skip
        command = [
            "nsenter", f"--net={node.netns}", "unshare", "--uts",
            "sh", "-c", 'hostname "$0" && exec "$@"', node.name, *dockerd,
        ]  # fmt: skip
        pid = _daemon(command, node.log, node.run_dir / "engine.pid")
        deadline = time.monotonic() + ENGINE_START_SECONDS
        while not node.answers():
            if not _alive(pid) or time.monotonic() > deadline:
                raise NbshipError(
                    f"engine {node.name} did not start (see {node.log}): {_tail(node.log)}"
                )
            time.sleep(0.5)

    def _forward_registries(self) -> None:
        for port in self.registry_ports:
            self._spawn(
                f"forward-{port}",
                ["socat", f"TCP-LISTEN:{port},bind={self.host_address},fork,reuseaddr",
                 f"TCP:127.0.0.1:{port}"],
            )  # fmt: skip
            for node in self.nodes:
                self._spawn(
                    f"forward-{port}-{node.name}",
                    ["nsenter", f"--net={node.netns}", "socat",
                     f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr",
                     f"TCP:{self.host_address}:{port}"],
                )  # fmt: skip

    def _spawn(self, name: str, command: list[str]) -> None:
        """Start COMMAND in the background, its pid in RUN_DIR/NAME.pid; fail if it exits at
        once (a port already taken, say)."""
        log = self.run_dir / f"{name}.log"
        pid = _daemon(command, log, self.run_dir / f"{name}.pid")
        time.sleep(0.2)
        if not _alive(pid):
            raise NbshipError(f"{' '.join(command[:2])} for {name} exited: {_tail(log)}")

    def _form_swarm(self) -> None:
        manager = self.manager
        manager.docker(
            "swarm", "init",
            "--advertise-addr", manager.address,
            "--listen-addr", f"{manager.address}:2377",
        )  # fmt: skip
        token = manager.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        for node in self.nodes[1:]:
            node.docker(
                "swarm", "join", "--token", token,
                "--advertise-addr", node.address, f"{manager.address}:2377",
            )  # fmt: skip
        for node in self.nodes:
            node_id = node.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
            manager.docker("node", "update", "--label-add", f"nbship.zone={node.name}", node_id)


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise NbshipError("a local cluster makes network namespaces and engines: run it as root")
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise NbshipError(
            f"a local cluster needs {', '.join(missing)}: apt-get install {' '.join(missing)}"
        )


def _daemon(command: list[str], log: Path, pid_file: Path) -> int:
    """Start COMMAND as a daemon (its own session, not this process's child, so nothing here
    waits for it), output appended to LOG; its pid, which it also writes to PID_FILE."""
    pid_file.unlink(missing_ok=True)
    shell = 'echo $$ > "$0" && exec "$@"'
    with log.open("ab") as out:
        subprocess.run(
            ["setsid", "--fork", "sh", "-c", shell, str(pid_file), *command],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=True,
        )  # fmt: skip
    deadline = time.monotonic() + 5
    while (pid := _read_pid(pid_file)) is None:
        if time.monotonic() > deadline:
            raise NbshipError(f"{command[0]} did not start (see {log}): {_tail(log)}")
        time.sleep(0.05)
    return pid


def _storage_driver() -> str:
    """The host engine's storage driver: the one known to work on this machine's filesystem
    (fuse-overlayfs where the data root is itself on overlayfs)."""
    driver = docker.run(["docker", "info", "--format", "{{.Driver}}"], capture=True).stdout
    return driver.strip() or "overlay2"


def _stop_engine(node: Node) -> None:
    pid = _read_pid(node.run_dir / "dockerd.pid")
    if pid is None:
        return
    _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + ENGINE_STOP_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    _kill(pid, signal.SIGKILL)


def _netns_pids(node: Node) -> list[int]:
    """Every process left in NODE's namespace (containerd, shims, socat, fuse mounts)."""
    if not node.netns.exists():
        return []
    listed = _ip("netns", "pids", node.name, check=False).stdout.split()
    return [int(pid) for pid in listed if pid.isdigit()]


def _unmount_under(*folders: Path) -> None:
    """Detach every mount below FOLDERS (deepest first) that a killed engine left behind."""
    prefixes = tuple(f"{folder}/" for folder in folders)
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1].replace("\\040", " ") for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefixes)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether PID runs: a zombie (exited, not yet reaped by an init that may never reap it)
    does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _kill(pid: int | None, sig: signal.Signals) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return docker.run(["ip", *args], capture=True, check=check)


def _iptables(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return docker.run(["iptables", *args], capture=True, check=check)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
