"""Real multi-process Ray clusters on 127.0.0.1: `ray start --head`, and a two-node cluster that loses a node."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.test_pipeline import TINY, launch, sets

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """`ray start --head --block` on loopback, in its own process group; killed (with its processes) after."""
    port = free_port()
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_TMPDIR": tempfile.mkdtemp(prefix="rh", dir="/tmp")}  # short: Ray's socket paths
    proc = subprocess.Popen([RAY, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
                             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    time.sleep(3)  # the GCS answers before the raylet has registered
    yield f"127.0.0.1:{port}", env
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_launch_cluster_runs_the_pipeline_on_an_existing_head(ray_head, tmp_path):
    address, env = ray_head
    work = tmp_path / "work"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "launch.py"), "--cluster", "--address", address,
                          "--workdir", str(work), *sets(TINY)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"connected to the Ray cluster at {address}" in res.stdout
    for stage in ("teacher", "precompute", "distill", "train", "evaluate"):
        assert (work / stage / "metrics.json").is_file()
    assert f"ray_address: {address}" in (work / "train" / "config.yaml").read_text()


@pytest.mark.slow
def test_launch_cluster_clear_error_when_nothing_listens(tmp_path):
    port = free_port()
    res = launch("--cluster", "--address", f"127.0.0.1:{port}", "--workdir", str(tmp_path))
    assert res.returncode == 2
    assert f"nothing answers at '127.0.0.1:{port}'" in res.stderr and "ray start --head" in res.stderr


TWO_NODES = """
import json, sys, ray, torch
from ray.cluster_utils import Cluster
from rlkd.config import load_config
from rlkd.curriculum.policies import FixedSchedule
from rlkd.env.episode import PolicyRun
from rlkd.rl.ppo import build_ppo_config
from rlkd.tune.grid import run_grid

overrides = json.loads(sys.argv[1])
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
worker = cluster.add_node(num_cpus=1)

# 1. the evaluation grid: populations of runs spread over the head and the worker
torch.set_num_threads(1)  # as in a Ray worker with one CPU, so both places compute alike
local_cfg = load_config(None, overrides["grid"])
cluster_cfg = load_config(None, overrides["grid"] + [f"resources.ray_address={cluster.address}"])
runs = [PolicyRun(local_cfg, FixedSchedule(name, sampler), seed)
        for name, sampler in (("kd", "full"), ("pacing", "pacing")) for seed in (0, 1)]
local, _ = run_grid(local_cfg, runs, "local")
spread, populations = run_grid(cluster_cfg, runs, "cluster")
grid = {"nodes": sorted({p["node"] for p in populations}), "worker": worker.node_id,
        "head": cluster.head_node.node_id, "lanes": [p["lanes"] for p in populations],
        "local": [[r["val_acc_last_epoch"], r["test_acc_last_epoch"], r["samples_seen"]] for r in local],
        "spread": [[r["val_acc_last_epoch"], r["test_acc_last_epoch"], r["samples_seen"]] for r in spread]}

# 2. PPO whose env runners sit on a node that dies
runner_node = cluster.add_node(num_cpus=2, resources={"runner_slot": 2})
if not ray.is_initialized():
    ray.init(address=cluster.address)
cfg = load_config(None, overrides["node_loss"])
algo = build_ppo_config(cfg).env_runners(custom_resources_per_env_runner={"runner_slot": 1}).build_algo()
nodes = algo.env_runner_group.foreach_env_runner(lambda r: ray.get_runtime_context().get_node_id(),
                                                  local_env_runner=False)
assert set(nodes) == {runner_node.node_id}, (nodes, runner_node.node_id)
algo.train()
cluster.remove_node(runner_node)  # the node dies with both env runners on it
cluster.add_node(num_cpus=2, resources={"runner_slot": 2})  # a replacement joins, as an autoscaler would add one
while algo.iteration < cfg.ppo.iterations:
    algo.train()
node_loss = {"iterations": algo.iteration, "healthy": algo.env_runner_group.num_healthy_remote_workers(),
             "restarts": algo.env_runner_group.num_remote_worker_restarts()}
print(json.dumps({"grid": grid, "node_loss": node_loss}))
algo.stop()
ray.shutdown()
cluster.shutdown()
"""


@pytest.fixture(scope="module")
def two_nodes(teacher_dir, shards_dir):
    """One `ray.cluster_utils.Cluster` (a head and worker nodes on 127.0.0.1) in its own process, serving both tests
    below: the evaluation grid over two nodes, then PPO through the loss of its env runners' node."""
    from tests.conftest import run_overrides

    base = run_overrides(teacher_dir, shards_dir)
    overrides = {"grid": base + ["distill.epochs=3", "resources.population_size=2",
                                 "resources.num_cpus_per_env_runner=1"],
                 "node_loss": base + ["distill.epochs=2", "ppo.iterations=3", "ppo.episodes_per_batch=2",
                                      "ppo.minibatch_size=2", "ppo.num_epochs=1", "ppo.hidden=[8]",
                                      "resources.num_env_runners=2", "resources.num_cpus_per_env_runner=0.5"]}
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_TMPDIR": tempfile.mkdtemp(prefix="rc", dir="/tmp")}
    res = subprocess.run([sys.executable, "-c", TWO_NODES, json.dumps(overrides)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600, start_new_session=True)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_evaluation_grid_spreads_populations_over_a_two_node_cluster(two_nodes):
    out = two_nodes["grid"]
    # two populations of two runs, one CPU each: one on each node, at the same time
    assert out["lanes"] == [2, 2] and out["nodes"] == sorted([out["head"], out["worker"]]), out
    assert out["spread"] == out["local"], out  # the same runs as in this process, in the same order


@pytest.mark.slow
def test_ppo_survives_losing_its_worker_node(two_nodes):
    out = two_nodes["node_loss"]
    assert out["iterations"] == 3, out  # every iteration ran, through the loss of the node
