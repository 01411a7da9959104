"""Each pool process of `latentfx worker -c N` takes its own GPU (no GPU needed)."""

import subprocess
import sys

from conftest import ROOT
from workers.gpus import gpu_for, machine_gpus, take_gpu


def test_pool_processes_take_the_gpus_round_robin():
    gpus = ["0", "1", "2", "3"]
    assert [gpu_for(i, gpus) for i in range(6)] == ["0", "1", "2", "3", "0", "1"]
    assert gpu_for(0, []) is None  # no GPU: the CPU


def test_the_gpus_come_from_the_device_nodes_or_what_the_worker_was_given(tmp_path):
    for name in ("nvidia0", "nvidia1", "nvidia10", "nvidia2", "nvidiactl", "nvidia-uvm"):
        (tmp_path / name).touch()
    assert machine_gpus({}, tmp_path) == ["0", "1", "2", "10"]
    assert machine_gpus({"CUDA_VISIBLE_DEVICES": "4, 6"}, tmp_path) == ["4", "6"]
    assert machine_gpus({"CUDA_VISIBLE_DEVICES": ""}, tmp_path) == []  # hidden on purpose
    assert machine_gpus({}, tmp_path / "none") == []


def test_taking_a_gpu_narrows_the_process_to_it(tmp_path):
    (tmp_path / "nvidia0").touch()
    (tmp_path / "nvidia1").touch()
    env = {}
    assert take_gpu(3, env, tmp_path) == "1" and env == {"CUDA_VISIBLE_DEVICES": "1"}
    env = {}
    assert take_gpu(0, env, tmp_path / "none") is None and env == {}


def test_a_starting_pool_process_takes_its_gpu():
    # What Celery does in each new pool process: its index is set, then the signal is sent.
    code = ("import os, billiard.process, workers.app\n"
            "from celery.signals import worker_process_init\n"
            "os.environ['CUDA_VISIBLE_DEVICES'] = '3,5,7'\n"
            "billiard.process.current_process().index = 1\n"
            "worker_process_init.send(sender=None)\n"
            "print(os.environ['CUDA_VISIBLE_DEVICES'])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"
