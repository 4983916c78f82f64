#!/usr/bin/python3
"""Runs the real kargo-dsp binary the way each rendered Deployment runs it.

For every overlay and Deployment: the migrate initContainer's command, then the main container's,
each with the container's environment as the kubelet builds it from the rendered ConfigMap and
`env` (plus placeholder Secret values, the test's PostgreSQL and Redis, and free ports in place of
PORT and WORKER_PORT). Checks that the settings load, that the probe paths answer on the probe
port, and that on SIGTERM readiness answers 503 at once, the listener stays open for
SHUTDOWN_DELAY_SECONDS, and the process exits 0 well within terminationGracePeriodSeconds.

  DATABASE_URL=... REDIS_URL=... tests/deploy/pods_test.py --root . --binary build/kargo-dsp

scripts/test.sh starts the PostgreSQL and Redis and exports both URLs. Registered in ctest as
deploy.pods.
"""

import argparse
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import manifests_test as manifests  # noqa: E402

ARGS = None
# What the operator's Secret holds (kargo-dsp-secrets): placeholders for the test.
SECRET = {"SECRET_KEY": "pods-test-secret-key-0123456789abcdef-0123456789"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=2.0):
    """The status of GET path, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as res:
            return res.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return None


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


class PodTest(unittest.TestCase):
    def pod_env(self, r, pod, container, ports):
        env = r.env(pod, container)
        # The Secret comes after the ConfigMap in envFrom: its values win, as in the cluster.
        env.update(SECRET)
        env.update({"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
                    "HOST": "127.0.0.1"})
        env.update({key: str(port) for key, port in ports.items()})
        env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
        return {k: ("" if v is None else str(v)) for k, v in env.items()}

    def run_deployment(self, r, deployment, workdir):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        ports = {"PORT": free_port(), "WORKER_PORT": free_port()}
        for init in pod.get("initContainers", []):
            run = subprocess.run([str(ARGS.binary)] + init["args"], env=self.pod_env(r, pod, init, ports),
                                 cwd=workdir, capture_output=True, text=True, timeout=120)
            self.assertEqual(run.returncode, 0, f"{name}/{init['name']}: {run.stdout}{run.stderr}")

        main = manifests.main_container(deployment)
        env = self.pod_env(r, pod, main, ports)
        # The probe port in the manifest is the one the process listens on (the manifests test
        # checks it is PORT or WORKER_PORT); here that setting holds a free port instead.
        setting = "PORT" if main["args"] == ["serve"] else "WORKER_PORT"
        port = ports[setting]
        manifest_port = int(r.env(pod, main)[setting])
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in main:
                self.assertEqual(manifests.container_port(main, main[probe]["httpGet"]["port"]), manifest_port)

        log = open(pathlib.Path(workdir) / f"{r.overlay}-{name}.log", "w+")
        proc = subprocess.Popen([str(ARGS.binary)] + main["args"], env=env, cwd=workdir, stdout=log, stderr=log)
        try:
            live = main["livenessProbe"]["httpGet"]["path"]
            ready = main["readinessProbe"]["httpGet"]["path"]
            try:
                wait_for(lambda: get(port, live) == 200, 30, f"{name}: {live} 200")
                wait_for(lambda: get(port, ready) == 200, 30, f"{name}: {ready} 200")
            except AssertionError:
                log.seek(0)
                raise AssertionError(f"{name} did not become ready; exit {proc.poll()}; log:\n{log.read()[-3000:]}")

            delay = int(env.get("SHUTDOWN_DELAY_SECONDS") or 0)
            period = pod.get("terminationGracePeriodSeconds", 30)
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            if delay >= 1:
                wait_for(lambda: get(port, ready) == 503, 1, f"{name}: {ready} 503 right after SIGTERM")
            else:  # no delay: the listener may already be closed
                wait_for(lambda: get(port, ready) in (503, None), 1, f"{name}: {ready} not 200 after SIGTERM")
            if delay >= 2:
                # Still accepting while the endpoints go: the liveness route answers.
                time.sleep(max(0.0, delay - 1.5 - (time.monotonic() - signalled)))
                self.assertIsNotNone(get(port, live), f"{name}: listener closed before SHUTDOWN_DELAY_SECONDS")
            try:
                code = proc.wait(timeout=max(0.0, period - (time.monotonic() - signalled)))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{name}: still running {period} s (terminationGracePeriodSeconds) after SIGTERM")
            took = time.monotonic() - signalled
            self.assertEqual(code, 0, f"{name}: exit code after SIGTERM")
            self.assertGreaterEqual(took, delay - 0.5, f"{name}: exited before SHUTDOWN_DELAY_SECONDS")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()

    def test_pods_start_serve_probes_and_drain_as_rendered(self):
        for kubectl in ARGS.kubectl[:1]:
            for overlay in manifests.OVERLAYS:
                r = manifests.Rendered(kubectl, overlay)
                for deployment in r.deployments():
                    with self.subTest(overlay=overlay, deployment=deployment["metadata"]["name"]):
                        with tempfile.TemporaryDirectory() as workdir:
                            self.run_deployment(r, deployment, workdir)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[2])
    parser.add_argument("--kubectl", action="append")
    parser.add_argument("--binary", type=pathlib.Path, required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.kubectl = ARGS.kubectl or ["kubectl"]
    ARGS.binary = ARGS.binary.resolve()
    manifests.ARGS = ARGS
    for var in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(var):
            sys.exit(f"{var} is not set: run through scripts/test.sh, or start PostgreSQL and Redis and export it")
    unittest.main(argv=[sys.argv[0], "-v"] + rest)
