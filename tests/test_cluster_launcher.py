"""Ray's cluster launcher on cluster/cluster-onprem.yaml, for real, on one machine.

Four "machines" in a network namespace of the test's own (only its loopback: nothing leaves it,
and no port of another Ray on this machine is in the way): a client that runs `ray up`, `ray
submit`, `ray rsync-down` and `ray down`, a head (127.0.0.2) and two workers (127.0.0.3, .4). Each
node is its own PID and mount namespace with its own HOME and /tmp and its own sshd on its
address; the launcher reaches them over SSH with a key, as on real machines. The YAML is the
shipped file with the documented edits only (addresses, ssh_user, data source, NAR_ENV = this
interpreter's environment so that nothing is pip-installed, trials off the head, one CPU per worker).

Checked: `ray up -y` starts the head and Ray's autoscaler (v1, from the YAML) starts both workers,
every node advertising the address of the YAML; the data arrives without its cache; `ray submit
... sweeps/loss_factors.py` lands every (trial, seed) row once, from both workers, and prints the
readable console; `ray rsync-down` brings the results back; a worker killed (its whole namespace)
mid-sweep costs a retry, not a row; `ray down -y` stops the head's Ray. No other Ray on the machine
is touched: every process of the test lives in its namespaces and is stopped by process group.
Skips with the reason without root/unshare, sshd, rsync or the NAS-Bench-201 CSV data.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
SHIPPED = ROOT / "cluster" / "cluster-onprem.yaml"
HEAD, WORKERS = "127.0.0.2", ("127.0.0.3", "127.0.0.4")
CLUSTER = "nar-sweeps-onprem"
HOME = "/run/home"  # every machine's HOME, each its own directory (see _own_home_and_tmp)


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _nb201_data() -> Path | None:
    for d in (os.environ.get("NAR_DATA"), ROOT.parent / "shared" / "data"):
        if d and (Path(d) / "nb201" / "nb201_accuracy.csv").is_file():
            return Path(d) / "nb201"
    return None


def _unavailable() -> str:
    if not sys.platform.startswith("linux"):
        return "needs Linux namespaces"
    missing = [t for t in ("unshare", "nsenter", "ssh", "ssh-keygen", "rsync", "ip") if not shutil.which(t)]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("sshd (/usr/sbin/sshd)")
    if missing:
        return "needs " + ", ".join(missing) + " (Debian: apt-get install -y openssh-server rsync iproute2)"
    r = _run(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
              "sh", "-c", "ip link set lo up && mount -t tmpfs tmpfs /mnt"])
    if r.returncode != 0:
        return f"needs root (or user namespaces) for network, PID and mount namespaces: {r.stderr.strip()}"
    for path in (ROOT, Path(sys.prefix).resolve(), Path(sys.executable).resolve()):
        if str(path).startswith(("/tmp/", "/run/")):
            return f"needs the repository and its Python outside /tmp and /run (each test machine gets its own): {path}"
    if _nb201_data() is None:
        return "needs the NAS-Bench-201 CSV data (NAR_DATA or ../shared/data with nb201/nb201_accuracy.csv)"
    return ""


def render_config(shipped: str, *, head: str, workers: tuple[str, ...], data: str, env: str) -> str:
    """The shipped on-prem YAML with the edits cluster/README.md documents, and no others."""
    cfg = yaml.safe_load(shipped)
    cfg["provider"]["head_ip"], cfg["provider"]["worker_ips"] = head, list(workers)
    cfg["auth"]["ssh_user"] = "root"
    cfg["file_mounts"]["~/nar/data"] = data
    settings = cfg["initialization_commands"][0]
    for old, new in (("NAR_ENV=install", f"NAR_ENV={env}"), ('GPU_NODES="10.0.0.12 10.0.0.13"', 'GPU_NODES=""'),
                     ('HEAD_RAY_ARGS=""', 'HEAD_RAY_ARGS="--num-cpus=0"'),
                     ('WORKER_RAY_ARGS=""', 'WORKER_RAY_ARGS="--num-cpus=1"')):
        assert settings.count(f"\n{old}\n") == 1, f"the shipped settings block has no line {old!r}"
        settings = settings.replace(f"\n{old}\n", f"\n{new}\n")
    cfg["initialization_commands"][0] = settings
    return yaml.safe_dump(cfg, sort_keys=False)


def _own_home_and_tmp(home: Path, tmp: Path) -> str:
    """Shell commands, run in a new mount namespace, that give a machine its own HOME and /tmp.

    The home directory is mounted at HOME and root's entry of /etc/passwd (a private copy) points
    there, so sshd logs in to it; /root itself stays as it is (an interpreter may live there).
    """
    return (f"mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd {HOME} "
            f"&& mount --bind {home} {HOME} "
            f"&& awk -F: -v OFS=: '$1 == \"root\" {{ $6 = \"{HOME}\" }} {{ print }}' /etc/passwd > /run/passwd "
            f"&& mount --bind /run/passwd /etc/passwd && mount --bind {tmp} /tmp "
            "&& mount -t tmpfs -o mode=1777 tmpfs /dev/shm")


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _pid_ns(pid: int | str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def _processes() -> dict[int, tuple[str, str]]:
    """pid -> (pid namespace, command line) of every process."""
    out = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                out[int(p.name)] = (_pid_ns(p.name), (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return out


def _ray_daemons(procs: dict[int, tuple[str, str]], ns: set[str] | None = None, exclude: set[str] = frozenset()):
    return {pid for pid, (n, cmd) in procs.items()
            if re.search(r"(raylet|gcs_server)( |$)", cmd.split(" ", 1)[0] + " ") and (ns is None or n in ns) and n not in exclude}


class Machines:
    """A network namespace holding a client and three SSH nodes, each node PID + mount namespaced."""

    def __init__(self, base: Path):
        self.base = base
        self.procs: list[subprocess.Popen] = []
        self.holder = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep 100000"],
                                       start_new_session=True)
        self.procs.append(self.holder)
        self.netns = f"/proc/{self.holder.pid}/ns/net"
        for _ in range(100):
            if _run(["nsenter", f"--net={self.netns}", "ip", "-o", "link", "show", "lo"]).stdout.count("UP"):
                break
            time.sleep(0.05)
        self.client_home = base / "client" / "home"
        self.client_tmp = base / "client" / "tmp"
        for d in (self.client_home / ".ssh", self.client_tmp):
            d.mkdir(parents=True)
        key = self.client_home / ".ssh" / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nar-test", "-f", str(key)], check=True)
        self.pubkey = key.with_suffix(".pub").read_text()
        self.nodes: dict[str, dict] = {}
        for ip in (HEAD, *WORKERS):
            self.start_node(ip)

    # --- nodes ---------------------------------------------------------------------------------------
    def home(self, ip: str) -> Path:
        return self.base / ip / "home"

    def start_node(self, ip: str) -> None:
        home, tmp = self.home(ip), self.base / ip / "tmp"
        for d in (home / ".ssh", home / ".sshd", tmp):
            d.mkdir(parents=True, exist_ok=True)
        (home / ".ssh" / "authorized_keys").write_text(self.pubkey)
        hostkey = home / ".sshd" / "host_key"
        if not hostkey.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)], check=True)
        (home / ".sshd" / "sshd_config").write_text(
            f"ListenAddress {ip}\nPort 22\nHostKey {HOME}/.sshd/host_key\nPidFile none\nUsePAM no\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            f"KbdInteractiveAuthentication no\nAuthorizedKeysFile {HOME}/.ssh/authorized_keys\nStrictModes no\n"
            "MaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n")
        script = _own_home_and_tmp(home, tmp) + f" && exec /usr/sbin/sshd -D -e -f {HOME}/.sshd/sshd_config"
        log = open(self.base / ip / "sshd.log", "a")
        proc = subprocess.Popen(["nsenter", f"--net={self.netns}", "--", "unshare", "--mount", "--pid", "--fork",
                                 "--kill-child", "--mount-proc", "--propagation", "private", "sh", "-c", script],
                                stdout=log, stderr=log, start_new_session=True)
        self.procs.append(proc)
        self.nodes[ip] = {"proc": proc}
        for _ in range(200):  # until sshd listens
            r = _run(["nsenter", f"--net={self.netns}", "bash", "-c", f"exec 3<>/dev/tcp/{ip}/22"])
            if r.returncode == 0:
                break
            assert proc.poll() is None, (self.base / ip / "sshd.log").read_text()
            time.sleep(0.05)
        kids = _children(proc.pid)
        self.nodes[ip]["ns"] = _pid_ns(kids[0]) if kids else ""

    def start_bystander(self, ip: str) -> None:
        """Another Ray of the same user on that machine, started before the cluster: it must outlive it."""
        home = self.home(ip)
        init = _children(self.nodes[ip]["proc"].pid)[0]
        cmd = (f"HOME={HOME} RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 setsid {RAY} start --head --port=6390 "
               f"--node-ip-address={ip} --num-cpus=0 --include-dashboard=false --temp-dir=/tmp/bystander --block "
               f"</dev/null >{HOME}/bystander.log 2>&1 &")
        subprocess.run(["nsenter", "-t", str(init), "-m", "-p", "-n", "--", "sh", "-c", cmd], check=True)
        deadline = time.time() + 120
        while "Ray runtime started" not in ((home / "bystander.log").read_text() if (home / "bystander.log").exists() else ""):
            assert time.time() < deadline, (home / "bystander.log").read_text()
            time.sleep(0.5)
        ns = self.nodes[ip]["ns"]
        self.bystander = {pid for pid, (n, cmd) in _processes().items() if n == ns and "/tmp/bystander" in cmd}
        assert self.bystander

    def bystander_alive(self) -> bool:
        return all(Path(f"/proc/{pid}").exists() for pid in self.bystander)

    def kill_node(self, ip: str) -> None:
        """The machine is gone: every process of the node (sshd, Ray, trials) killed at once."""
        proc = self.nodes[ip]["proc"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def node_processes(self, ip: str) -> list[str]:
        ns = self.nodes[ip]["ns"]
        return [cmd for n, cmd in _processes().values() if ns and n == ns]

    # --- the client ------------------------------------------------------------------------------------
    def client(self, *args: str, popen: bool = False, timeout: float = 600):
        """A command on the client machine (own HOME and /tmp, the repository as working directory)."""
        script = _own_home_and_tmp(self.client_home, self.client_tmp) + f" && cd {ROOT} && exec \"$@\""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(HOME=HOME, RAY_USAGE_STATS_ENABLED="0", TERM="dumb")
        cmd = ["nsenter", f"--net={self.netns}", "--", "unshare", "--mount", "--pid", "--fork", "--kill-child",
               "--mount-proc", "--propagation", "private", "sh", "-c", script, "sh", *args]
        if popen:
            return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
        return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, start_new_session=True)

    def shutdown(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=30)


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    m = Machines(tmp_path_factory.mktemp("launcher"))
    try:
        yield m
    finally:
        m.shutdown()


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return [r for r in out if r.get("kind") == "seed"]


def test_ray_up_submit_kill_down(machines):
    m = machines
    t_start = time.time()
    timings: dict[str, float] = {}
    # the data travels with a cache file beside it, as a user's data folder would have one
    data = m.client_home / "data"
    shutil.copytree(_nb201_data(), data / "nb201")
    (data / "nb201" / ".nb201_accuracy.csv.nb201.v1.npz").write_bytes(b"a cache: not copied")
    (data / "nb201" / "old.nar-cache.npz").write_bytes(b"a cache: not copied")
    config = render_config(SHIPPED.read_text(), head=HEAD, workers=WORKERS, data="~/data", env=sys.prefix)
    (m.client_home / "cluster-onprem.yaml").write_text(config)
    cfg = f"{HOME}/cluster-onprem.yaml"
    r = m.client(RAY, "get-auth-token", "--generate", timeout=60)
    assert r.returncode == 0, r.stdout
    m.start_bystander(WORKERS[0])  # another Ray of the same user on a worker machine

    # --- ray up: the head, then the autoscaler starts both workers ------------------------------------
    t0 = time.time()
    up = m.client(RAY, "up", "-y", cfg, timeout=600)
    (m.base / "ray-up.log").write_text(up.stdout)
    assert up.returncode == 0, up.stdout[-5000:]
    _wait_for_workers(m, {})  # the head's autoscaler runs node.sh start-worker on each worker
    timings["ray up + workers joined"] = time.time() - t0
    # every node under the address the YAML gives it (not one Ray guessed), trials only on the workers, no GPU
    assert _alive_nodes(m, cfg) == [[HEAD, 0, 0], [WORKERS[0], 1, 0], [WORKERS[1], 1, 0]]
    assert m.bystander_alive(), "node.sh stopped a Ray it did not start"
    # the README's way to watch the nodes. The autoscaler's view lags the nodes' own: a worker already
    # alive in the cluster reads "setting-up" until its setup command has returned, so poll a while
    deadline = time.time() + 180
    while True:
        r = m.client(RAY, "exec", cfg, "ray status", timeout=300)
        active = r.returncode == 0 and re.search(r"Active:\s*\n\s*3 local\.cluster\.node", r.stdout)
        if active or time.time() > deadline:
            break
        time.sleep(5)
    (m.base / "ray-status.log").write_text(r.stdout)
    assert active, r.stdout[-3000:]
    monitor = _monitor_tail(m, 400)
    assert "StandardAutoscaler:" in monitor, monitor[-3000:]  # autoscaler v1 (v2 logs from ray/autoscaler/v2/)
    for ip in (HEAD, *WORKERS):  # the data without its cache
        got = m.home(ip) / "nar" / "data" / "nb201"
        assert (got / "nb201_accuracy.csv").is_file()
        assert not (got / ".nb201_accuracy.csv.nb201.v1.npz").exists() and not (got / "old.nar-cache.npz").exists()

    # --- ray submit: a small grid, every (trial, seed) once, from both workers -------------------------
    t0 = time.time()
    r = m.client(RAY, "submit", cfg, "sweeps/loss_factors.py", "--", "--table", "rank_cifar10", "--quick",
                 "--seeds", "0-1", "--num-samples", "2", "--storage", "~/nar/runs", timeout=600)
    timings["ray submit (2 trials x 2 seeds)"] = time.time() - t0
    (m.base / "submit.log").write_text(r.stdout)
    assert r.returncode == 0, r.stdout[-5000:]
    exp = m.home(HEAD) / "nar" / "runs" / "loss_factors_rank_cifar10"
    table = pd.read_csv(exp / "results.csv")
    assert len(table) == 4 and (table.status == "ok").all() and not table.duplicated(["trial_id", "seed"]).any()
    per_node = table.node_ip.value_counts().to_dict()
    assert set(per_node) == set(WORKERS), per_node  # both workers ran trials, the head none
    out = r.stdout
    assert "space nb201" in out and "seed_record/" not in out and "Trial status" not in out, out[-4000:]
    assert f"nar tables table narq2t-VI --results {HOME}/nar/runs/loss_factors_rank_cifar10" in out, out[-4000:]

    r = m.client(RAY, "rsync-down", cfg, "~/nar/runs/", f"{HOME}/runs/", timeout=300)
    (m.base / "rsync-down.log").write_text(r.stdout)
    assert r.returncode == 0, r.stdout[-3000:]
    assert pd.read_csv(m.client_home / "runs" / "loss_factors_rank_cifar10" / "results.csv").equals(table)

    # --- a second `ray up` after the data changed: the same cluster, the change on every node ------------
    t0 = time.time()
    before = _pgids(m)
    (data / "nb201" / "added-later.txt").write_text("synced by the second ray up\n")
    up = m.client(RAY, "up", "-y", cfg, timeout=600)
    (m.base / "ray-up-2.log").write_text(up.stdout)
    assert up.returncode == 0, up.stdout[-5000:]
    _wait_for_workers(m, before)
    timings["second ray up + workers back"] = time.time() - t0
    assert _alive_nodes(m, cfg) == [[HEAD, 0, 0], [WORKERS[0], 1, 0], [WORKERS[1], 1, 0]]
    for ip in (HEAD, *WORKERS):
        assert (m.home(ip) / "nar" / "data" / "nb201" / "added-later.txt").is_file(), ip
    assert m.bystander_alive()

    # --- a worker machine dies mid-sweep: its trial is retried on the other worker, no row lost ---------
    t0 = time.time()
    victim = WORKERS[1]
    p = m.client(RAY, "submit", cfg, "sweeps/loss_factors.py", "--", "--table", "rank_cifar10", "--quick",
                 "--seeds", "0-3", "--num-samples", "2", "--storage", "~/nar/runs", "--name", "killed", popen=True)
    records = m.home(HEAD) / "nar" / "runs" / "killed" / "records.jsonl"
    try:
        deadline = time.time() + 400
        while not any(rec.get("node_ip") == victim for rec in _records(records)):
            assert p.poll() is None, p.stdout.read()[-5000:]
            assert time.time() < deadline, "no seed from the victim worker"
            time.sleep(0.3)
        m.kill_node(victim)
        out, _ = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    timings["ray submit with a worker killed (2 trials x 4 seeds)"] = time.time() - t0
    (m.base / "submit-killed.log").write_text(out)
    assert p.returncode == 0, out[-5000:]
    killed = pd.read_csv(m.home(HEAD) / "nar" / "runs" / "killed" / "results.csv")
    assert len(killed) == 8 and (killed.status == "ok").all() and not killed.duplicated(["trial_id", "seed"]).any()
    assert len(_records(records)) == 8  # each seed ran and arrived once: nothing recorded before the kill ran again
    moved = killed.groupby("trial_id").node_ip.nunique()
    assert (moved == 2).sum() == 1, killed[["trial_id", "seed", "node_ip"]]  # the victim's trial finished elsewhere

    # --- ray down: the head's Ray stops (Ray runs `ray stop` there: the head's namespace only) ----------
    t0 = time.time()
    r = m.client(RAY, "down", "-y", cfg, timeout=300)
    timings["ray down"] = time.time() - t0
    (m.base / "ray-down.log").write_text(r.stdout)
    assert r.returncode == 0, r.stdout[-3000:]
    deadline = time.time() + 60
    while _ray_daemons(_processes(), {m.nodes[HEAD]["ns"]}):
        assert time.time() < deadline, m.node_processes(HEAD)
        time.sleep(1)
    assert m.bystander_alive()  # the other Ray on a worker machine: untouched from start to end
    # The workers' Ray ends by itself once the head is gone (its raylet loses the GCS, `ray start --block` exits).
    t1 = time.time()
    survivor = {m.nodes[WORKERS[0]]["ns"]}
    while {p for p in _ray_daemons(_processes(), survivor) if p not in m.bystander}:
        assert time.time() - t1 < 180, m.node_processes(WORKERS[0])
        time.sleep(2)
    timings["workers' Ray gone after ray down"] = time.time() - t1
    assert m.bystander_alive()
    timings["total"] = time.time() - t_start
    summary = {"timings_s": {k: round(v, 1) for k, v in timings.items()}, "rows_per_node": per_node,
               "rows_per_node_killed": killed.node_ip.value_counts().to_dict()}
    (m.base / "summary.json").write_text(json.dumps(summary, indent=1))
    print("\nlauncher test:", json.dumps(summary))


def _alive_nodes(m: Machines, cfg: str) -> list:
    """[address, CPUs, GPUs] of every live node, asked on the head with `ray exec`."""
    probe = ("python -c \"import json, ray; ray.init(address='auto', logging_level='ERROR'); "
             "print('NODES', json.dumps(sorted((n['NodeManagerAddress'], n['Resources'].get('CPU', 0), "
             "n['Resources'].get('GPU', 0)) for n in ray.nodes() if n['Alive'])))\"")
    r = m.client(RAY, "exec", cfg, probe, timeout=300)
    found = re.findall(r"^NODES (\[.*\])\s*$", r.stdout, re.M)  # (ray exec echoes the command too)
    return json.loads(found[-1]) if found else r.stdout[-3000:]


def _wait_for_workers(m: Machines, before: dict[str, str], timeout: float = 300) -> None:
    """Until each worker runs a Ray that node.sh started after ``before`` (worker -> its ray.pgid then)."""
    deadline = time.time() + timeout
    for ip in WORKERS:
        log, pgid = m.home(ip) / "nar" / "ray-start.log", m.home(ip) / "nar" / "ray.pgid"
        while not (pgid.exists() and pgid.read_text() != before.get(ip, "") and log.exists()
                   and "Ray runtime started" in log.read_text()):
            assert time.time() < deadline, f"worker {ip} did not (re)start; head monitor log:\n" + _monitor_tail(m)
            time.sleep(1)


def _pgids(m: Machines) -> dict[str, str]:
    return {ip: (m.home(ip) / "nar" / "ray.pgid").read_text() if (m.home(ip) / "nar" / "ray.pgid").exists() else ""
            for ip in WORKERS}


def _monitor_tail(m: Machines, n: int = 60) -> str:
    sessions = sorted((m.base / HEAD / "tmp" / "ray").glob("session_2*"))  # session_latest: a link inside the node
    if not sessions:
        return "(no Ray session on the head)"
    logs = sessions[-1] / "logs"
    text = ""
    for name in ("monitor.log", "monitor.out", "monitor.err"):
        f = logs / name
        if f.exists():
            text += f"==> {name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-n:]) + "\n"
    return text


# --- the shipped files, without machines ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["cluster-onprem.yaml", "cluster.yaml"])
def test_shipped_configs_pass_rays_checks_and_keep_other_rays_alone(name, tmp_path):
    from ray.autoscaler._private.util import prepare_config, validate_config

    text = (ROOT / "cluster" / name).read_text()
    cfg = yaml.safe_load(text)
    validate_config(prepare_config(cfg))  # Ray's own schema and defaults, as `ray up` applies them
    commands = [c for key in ("initialization_commands", "setup_commands", "head_setup_commands",
                              "worker_setup_commands", "head_start_ray_commands", "worker_start_ray_commands")
                for c in cfg.get(key) or []]
    commands += [c for t in (cfg.get("available_node_types") or {}).values() for c in t.get("worker_setup_commands", [])]
    assert not any(re.search(r"(^|[;&|(]\s*)(\S*/)?ray stop\b", c) for c in commands), "a bare `ray stop`"
    # Ray's launcher checks the head start command for these (else it warns that no worker will start)
    assert any("ray start" in c and "--autoscaling-config=~/ray_bootstrap_config.yaml" in c
               for c in cfg["head_start_ray_commands"])
    # through node.sh: --node-ip-address from the YAML's address, its own Ray stopped by process group
    assert all(c.startswith("bash ~/nar/repo/cluster/node.sh start ray start ")
               for c in cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"])
    for pattern in (".*.npz", "*.nar-cache.npz"):  # the benchmark cache stays on each node
        assert pattern in cfg["rsync_exclude"]
    # the settings block is the shell file node.sh reads: every setting there, and the heredoc closes
    settings = cfg["initialization_commands"][0]
    env = tmp_path / "cluster.env"
    script = settings.replace("~/nar", str(tmp_path)).replace("mkdir -p " + str(tmp_path), "true")
    r = _run(["bash", "-c", script + f"\n. {env} && echo \"$NAR_ENV|$TORCH_WHEELS|$TORCH_CUDA|$TORCH_VERSION\""])
    assert r.returncode == 0 and r.stdout.strip() == "install|https://download.pytorch.org/whl|cu128|2.13.0", r
    if cfg["provider"]["type"] == "local":
        from ray.autoscaler._private.local.config import prepare_local

        local, _ = prepare_local(cfg)  # one node type for head and workers: all worker_ips are started
        node_type = local["available_node_types"]["local.cluster.node"]
        assert node_type["min_workers"] == node_type["max_workers"] == len(cfg["provider"]["worker_ips"])
        assert "\nAUTOSCALER_V2=0\n" in settings  # v2 would count the head among them (module doc)
        assert re.search(r'\nGPU_NODES="[^"]+"\n', settings)


def test_node_script_parses_and_render_config_changes_only_the_documented_edits():
    assert _run(["bash", "-n", str(ROOT / "cluster" / "node.sh")]).returncode == 0
    shipped = SHIPPED.read_text()
    out = yaml.safe_load(render_config(shipped, head="127.0.0.2", workers=("127.0.0.3",), data="~/data", env="/opt/env"))
    cfg = yaml.safe_load(shipped)
    assert out["provider"] == {**cfg["provider"], "head_ip": "127.0.0.2", "worker_ips": ["127.0.0.3"]}
    assert out["auth"] == {**cfg["auth"], "ssh_user": "root"}
    assert out["file_mounts"] == {**cfg["file_mounts"], "~/nar/data": "~/data"}
    same = ("cluster_name", "setup_commands", "head_setup_commands", "worker_setup_commands",
            "head_start_ray_commands", "worker_start_ray_commands", "rsync_exclude", "idle_timeout_minutes")
    assert all(out.get(k) == cfg.get(k) for k in same) and set(out) == set(cfg)
    diff = [ln for ln in out["initialization_commands"][0].splitlines()
            if ln not in cfg["initialization_commands"][0].splitlines()]
    assert diff == ["NAR_ENV=/opt/env", 'GPU_NODES=""', 'HEAD_RAY_ARGS="--num-cpus=0"', 'WORKER_RAY_ARGS="--num-cpus=1"']


FAKE_PYTHON = r'''#!/bin/bash
# A stand-in for the environment's python: pip calls are logged and change the "installed torch".
state="$FAKE/torch_state"
if [ "$1" = -m ] && [ "$2" = pip ]; then
    shift 2; echo "pip $*" >> "$FAKE/pip.log"
    case "$1" in
        uninstall) echo missing > "$state" ;;
        install) v=""; for a in "$@"; do case "$a" in torch==*) v="${a#torch==}" ;; esac; done
                 case "$*" in *"--index-url "*/cpu*) echo "$v none" > "$state" ;;
                              *"--index-url "*) echo "$v 12.8" > "$state" ;; esac ;;
    esac
    exit 0
fi
if [ "$1" = - ]; then cat >/dev/null; s="$(cat "$state")"; [ "$s" = missing ] && exit 1; echo "$s"; exit 0; fi
case "$2" in
    *cuda.is_available*) [ -f "$FAKE/has_gpu" ] && [ "$(cut -d' ' -f2 "$state")" != none ] && exit 0; exit 1 ;;
    *'print("ray"'*) echo "ray 2.60.0" ;;
esac
exit 0
'''


def _setup_node(tmp_path: Path, address: str, torch: str, has_gpu: bool, **settings: str):
    """node.sh setup on a node reached at ``address``, its env holding ``torch`` ("2.13.0 none": CPU build)."""
    home = tmp_path / address
    fake = home / "fake"
    venv = home / "nar" / "venv" / "bin"
    for d in (fake, venv):
        d.mkdir(parents=True)
    (venv / "python").write_text(FAKE_PYTHON)
    (venv / "python").chmod(0o755)
    (fake / "torch_state").write_text(torch + "\n")
    if has_gpu:
        (fake / "has_gpu").write_text("")
    block = yaml.safe_load(SHIPPED.read_text())["initialization_commands"][0]
    body = block.split("<<'EOF'\n", 1)[1].rsplit("EOF", 1)[0]
    for key, value in settings.items():
        body = re.sub(rf"^{key}=.*$", f"{key}={value}", body, flags=re.M)
    (home / "nar" / "cluster.env").write_text(body)
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "FAKE": str(fake),
           "SSH_CONNECTION": f"10.0.0.1 50000 {address} 22"}
    r = _run(["bash", str(ROOT / "cluster" / "node.sh"), "setup"], env=env, cwd=home)
    pip = (fake / "pip.log").read_text() if (fake / "pip.log").exists() else ""
    role = (home / "nar" / "node.role").read_text().strip() if (home / "nar" / "node.role").exists() else ""
    return r, pip, role


def test_node_setup_gives_gpu_nodes_the_cuda_build_and_cpu_nodes_no_gpu(tmp_path):
    gpus = '"10.0.0.12 10.0.0.13"'
    # a GPU node that has the CPU build (pip would call torch==2.13.0 satisfied): replaced by the CUDA build
    r, pip, role = _setup_node(tmp_path, "10.0.0.12", "2.13.0 none", True, GPU_NODES=gpus)
    assert r.returncode == 0 and role == "cuda", r.stdout + r.stderr
    assert "pip uninstall -q -y torch" in pip and "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" in pip
    assert "torch 2.13.0, CPU build here: installing the CUDA build of torch 2.13.0" in r.stdout
    assert "ready: cuda node, torch 2.13.0, CUDA 12.8 build, ray 2.60.0" in r.stdout
    # a GPU node with the CUDA build: nothing reinstalled; the wheel source is the one setting
    r, pip, role = _setup_node(tmp_path, "10.0.0.13", "2.13.0 12.8", True, GPU_NODES=gpus,
                               TORCH_WHEELS="https://mirror.example/whl")
    assert r.returncode == 0 and role == "cuda" and "torch==" not in pip, pip
    # a GPU node whose CUDA does not work does not join
    r, pip, role = _setup_node(tmp_path / "b", "10.0.0.12", "2.13.0 12.8", False, GPU_NODES=gpus)
    assert r.returncode != 0 and "GPU node without working CUDA" in r.stderr and role == ""
    # a CPU node: the CPU build from the wheel source's cpu index, and no CUDA check
    r, pip, role = _setup_node(tmp_path, "10.0.0.11", "missing", False, GPU_NODES=gpus,
                               TORCH_WHEELS="https://mirror.example/whl")
    assert r.returncode == 0 and role == "cpu", r.stderr
    assert "torch==2.13.0 --index-url https://mirror.example/whl/cpu" in pip and "cu128" not in pip
    assert "pip install -q -e " in pip  # this package, which pins ray[tune]
    shell = (tmp_path / "10.0.0.11" / "nar" / "shell.sh").read_text()
    assert "RAY_AUTH_MODE=token" in shell and "NAR_DATA=" in shell and "PYTHONPATH=" in shell
    # an existing environment (NAR_ENV=<sys.prefix>): used as it is, nothing installed
    r, pip, role = _setup_node(tmp_path / "c", "10.0.0.11", "2.13.0 none", False,
                               NAR_ENV=str(tmp_path / "c" / "10.0.0.11" / "nar" / "venv"))
    assert r.returncode == 0 and role == "cpu" and pip == "", pip
