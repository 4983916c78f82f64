#!/usr/bin/python3
"""Checks the Kubernetes manifests as Kubernetes would see them.

Renders every overlay of deploy/kubernetes with `kubectl kustomize` and reads the result: the
objects each overlay must have, the security settings, the writable /tmp, resources, probes, the
grace period against the shutdown settings of the rendered ConfigMap, the migration
initContainers, that every selector selects pods that exist, and in production the HPA, PDBs,
NetworkPolicies, spread constraints and Ingress. Also runs `yamllint --strict` with the
repository's .yamllint over deploy/kubernetes.

  tests/deploy/manifests_test.py --root . --kubectl kubectl [--kubectl /other/kubectl] \
      --yamllint yamllint

With several --kubectl (for instance kustomize v5 and the v2.0.3 of kubectl 1.20) every check
runs on each one's rendering. Registered in ctest as deploy.manifests.
"""

import argparse
import pathlib
import re
import subprocess
import sys
import unittest

import yaml

ARGS = None
OVERLAYS = {
    # overlay: the namespace its objects live in
    "staging": "kargo-dsp-staging",
    "production": "kargo-dsp",
}
SECRET_NAME = "kargo-dsp-secrets"
UID = 10001
# Egress the api and worker pods may have: PostgreSQL, Redis, DNS and HTTPS, nothing else.
ALLOWED_EGRESS = {("TCP", 5432), ("TCP", 6379), ("UDP", 53), ("TCP", 53), ("TCP", 443)}
# The peers allowed to reach the pods (labels documented in overlays/production/networkpolicy.yaml).
INGRESS_CONTROLLER = ({"kubernetes.io/metadata.name": "ingress-nginx"}, {"app.kubernetes.io/name": "ingress-nginx"})
PROMETHEUS = ({"kubernetes.io/metadata.name": "monitoring"}, {"app.kubernetes.io/name": "prometheus"})
# PostgreSQL's default max_connections.
PG_MAX_CONNECTIONS = 100

_RENDERED = {}


def render(kubectl, overlay):
    """The overlay's objects as rendered by this kubectl (cached)."""
    key = (kubectl, overlay)
    if key not in _RENDERED:
        path = ARGS.root / "deploy" / "kubernetes" / "overlays" / overlay
        run = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True)
        if run.returncode != 0:
            raise AssertionError(f"{kubectl} kustomize {path} failed:\n{run.stderr}")
        _RENDERED[key] = [doc for doc in yaml.safe_load_all(run.stdout) if doc]
    return _RENDERED[key]


def quantity(text):
    """A Kubernetes quantity (cpu or memory) as a float in base units."""
    text = str(text)
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * suffixes[suffix]
    return float(text)


def matches(selector, labels):
    """Whether a label selector (matchLabels only, or a plain map) selects these labels."""
    if selector is None:
        return False
    if selector.get("matchExpressions"):
        raise AssertionError(f"matchExpressions are not checked by this test: {selector}")
    wanted = selector["matchLabels"] if "matchLabels" in selector else selector
    return all(labels.get(k) == v for k, v in wanted.items())


class Rendered:
    """One overlay's objects with lookups."""

    def __init__(self, kubectl, overlay):
        self.kubectl = kubectl
        self.overlay = overlay
        self.objects = render(kubectl, overlay)

    def of_kind(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind, name):
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        if len(found) != 1:
            raise AssertionError(f"{self.overlay}: expected one {kind} {name}, found {len(found)}")
        return found[0]

    def deployments(self):
        return self.of_kind("Deployment")

    def config(self):
        maps = [m for m in self.of_kind("ConfigMap") if m["metadata"]["name"].startswith("kargo-dsp-config")]
        if len(maps) != 1:
            raise AssertionError(f"{self.overlay}: expected one kargo-dsp-config ConfigMap, found {len(maps)}")
        return maps[0]

    def env(self, pod_spec, container):
        """The container's environment as the kubelet builds it: envFrom in order, then env."""
        out = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                name = source["configMapRef"]["name"]
                out.update(self.get("ConfigMap", name).get("data", {}))
        for var in container.get("env", []):
            out[var["name"]] = var.get("value")
        return out

    def pods_selected(self, selector):
        return [d for d in self.deployments()
                if matches(selector, d["spec"]["template"]["metadata"].get("labels", {}))]


def all_containers(pod_spec):
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


def main_container(deployment):
    containers = deployment["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise AssertionError(f"{deployment['metadata']['name']}: expected one container, found {len(containers)}")
    return containers[0]


def container_port(container, port):
    """A probe's or Service's port (number or name) as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError(f"container {container['name']} has no port named {port}")


class OverlayCase(unittest.TestCase):
    """The renderings a test class checks: its overlays, once per kubectl (one subTest each)."""

    overlays = tuple(OVERLAYS)

    def each(self):
        return [Rendered(kubectl, overlay) for kubectl in ARGS.kubectl for overlay in self.overlays]

    def each_deployment(self):
        return [(r, d) for r in self.each() for d in r.deployments()]


class ManifestTest(OverlayCase):
    """Checks shared by every overlay."""

    def test_has_the_required_objects_in_its_own_namespace(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                namespace = OVERLAYS[r.overlay]
                r.get("Namespace", namespace)
                r.get("Deployment", "kargo-dsp-api")
                r.get("Deployment", "kargo-dsp-worker")
                r.get("Service", "kargo-dsp-api")
                r.config()
                for o in r.objects:
                    if o["kind"] != "Namespace":
                        self.assertEqual(o["metadata"].get("namespace"), namespace,
                                         f"{o['kind']} {o['metadata']['name']} is not in {namespace}")
                # No migration Job: the initContainers migrate (a Job's template cannot change).
                self.assertEqual(r.of_kind("Job"), [])
                # The Secret is created by the operator, never rendered (no secret values in git).
                self.assertEqual(r.of_kind("Secret"), [])

    def test_configmap_names_the_environment_and_only_known_settings(self):
        known = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ARGS.root / ".env.example").read_text(), re.M))
        self.assertIn("SHUTDOWN_GRACE_SECONDS", known, ".env.example was not read")
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                data = r.config()["data"]
                self.assertEqual(data["ENVIRONMENT"], r.overlay)
                unknown = sorted(set(data) - known)
                self.assertEqual(unknown, [], "settings kargo-dsp does not have (typo?)")
                for secret in ("SECRET_KEY", "DATABASE_URL", "ADMIN_PASSWORD", "AMAZON_CLIENT_SECRET",
                               "AMAZON_REFRESH_TOKEN", "KARGO_API_KEY"):
                    self.assertFalse(secret in data, f"{secret} belongs in the Secret")

    def test_pods_run_as_uid_10001_without_privileges(self):
        for r, d in self.each_deployment():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay, deployment=d["metadata"]["name"]):
                name = d["metadata"]["name"]
                pod = d["spec"]["template"]["spec"]
                pod_sc = pod.get("securityContext", {})
                self.assertIs(pod.get("automountServiceAccountToken"), False, name)
                for c in all_containers(pod):
                    sc = c.get("securityContext", {})
                    where = f"{name}/{c['name']}"
                    effective = lambda key: sc.get(key, pod_sc.get(key))  # noqa: E731
                    self.assertIs(effective("runAsNonRoot"), True, where)
                    self.assertEqual(effective("runAsUser"), UID, where)
                    self.assertEqual((effective("seccompProfile") or {}).get("type"), "RuntimeDefault", where)
                    self.assertIs(sc.get("allowPrivilegeEscalation"), False, where)
                    self.assertIs(sc.get("readOnlyRootFilesystem"), True, where)
                    self.assertEqual(sc.get("capabilities", {}).get("drop"), ["ALL"], where)
                    self.assertFalse(sc.get("capabilities", {}).get("add"), where)

    def test_read_only_containers_have_a_writable_tmp_and_tmpdir(self):
        for r, d in self.each_deployment():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay, deployment=d["metadata"]["name"]):
                pod = d["spec"]["template"]["spec"]
                volumes = {v["name"]: v for v in pod.get("volumes", [])}
                for c in all_containers(pod):
                    if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
                        continue
                    where = f"{d['metadata']['name']}/{c['name']}"
                    mounts = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
                    self.assertEqual(len(mounts), 1, f"{where}: no volume mounted at /tmp")
                    self.assertFalse(mounts[0].get("readOnly", False), where)
                    volume = volumes.get(mounts[0]["name"])
                    self.assertIsNotNone(volume, f"{where}: volume {mounts[0]['name']} is not defined")
                    self.assertIn("emptyDir", volume, f"{where}: /tmp must be an emptyDir")
                    self.assertIn("sizeLimit", volume["emptyDir"] or {}, f"{where}: /tmp needs a sizeLimit")
                    self.assertEqual(r.env(pod, c).get("TMPDIR"), "/tmp", f"{where}: TMPDIR")

    def test_every_container_has_requests_and_a_memory_limit(self):
        for r, d in self.each_deployment():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay, deployment=d["metadata"]["name"]):
                for c in all_containers(d["spec"]["template"]["spec"]):
                    where = f"{d['metadata']['name']}/{c['name']}"
                    res = c.get("resources", {})
                    requests, limits = res.get("requests", {}), res.get("limits", {})
                    for key in ("cpu", "memory"):
                        self.assertIn(key, requests, f"{where}: requests.{key}")
                    self.assertIn("memory", limits, f"{where}: limits.memory")
                    for key in limits:
                        self.assertLessEqual(quantity(requests.get(key, 0)), quantity(limits[key]),
                                             f"{where}: request above limit for {key}")

    def test_probes_use_the_health_routes_on_the_serving_port(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                for name, port_setting in (("kargo-dsp-api", "PORT"), ("kargo-dsp-worker", "WORKER_PORT")):
                    d = r.get("Deployment", name)
                    pod = d["spec"]["template"]["spec"]
                    c = main_container(d)
                    port = int(r.env(pod, c)[port_setting])
                    self.assertIn(port, [p["containerPort"] for p in c.get("ports", [])], f"{name}: {port_setting}")
                    for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
                        get = c.get(probe, {}).get("httpGet")
                        self.assertIsNotNone(get, f"{name}: {probe}")
                        self.assertEqual(get["path"], path, f"{name}: {probe} path")
                        self.assertEqual(container_port(c, get["port"]), port, f"{name}: {probe} port")
                    self.assertLessEqual(c["readinessProbe"].get("periodSeconds", 10), 5, f"{name}: readiness period")
                    if "startupProbe" in c:
                        self.assertEqual(c["startupProbe"]["httpGet"]["path"], "/health/live", name)

    def test_grace_period_covers_the_drain(self):
        for r, d in self.each_deployment():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay, deployment=d["metadata"]["name"]):
                name = d["metadata"]["name"]
                pod = d["spec"]["template"]["spec"]
                env = r.env(pod, main_container(d))
                delay = int(env.get("SHUTDOWN_DELAY_SECONDS", 0))
                grace = int(env.get("SHUTDOWN_GRACE_SECONDS", 20))
                webhook = int(env.get("WEBHOOK_TIMEOUT_SECONDS", 10))
                period = pod.get("terminationGracePeriodSeconds", 30)
                self.assertGreaterEqual(period, delay + grace + webhook,
                                        f"{name}: terminationGracePeriodSeconds {period} < delay {delay} + "
                                        f"grace {grace} + webhook attempt {webhook}")
                if name == "kargo-dsp-api":
                    self.assertGreaterEqual(delay, 1, "api: SHUTDOWN_DELAY_SECONDS must let endpoints go first")
                    request_s = int(env.get("REQUEST_TIMEOUT_MS", 30000)) / 1000
                    self.assertGreaterEqual(grace, request_s, "api: SHUTDOWN_GRACE_SECONDS < REQUEST_TIMEOUT_MS")
                # The drain is the server's: a preStop hook would add to it unseen.
                self.assertNotIn("lifecycle", main_container(d), f"{name}: preStop")

    def test_migrations_run_in_an_init_container_before_the_server(self):
        for r, d in self.each_deployment():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay, deployment=d["metadata"]["name"]):
                pod = d["spec"]["template"]["spec"]
                main = main_container(d)
                init = [c for c in pod.get("initContainers", []) if c.get("args") == ["migrate", "up"]]
                self.assertEqual(len(init), 1, f"{d['metadata']['name']}: initContainer `migrate up`")
                self.assertEqual(init[0]["image"], main["image"], "migrate with the image it serves")
                self.assertEqual(init[0].get("envFrom"), main.get("envFrom"), "migrate with the same settings")

    def test_env_sources_exist(self):
        for r, d in self.each_deployment():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay, deployment=d["metadata"]["name"]):
                for c in all_containers(d["spec"]["template"]["spec"]):
                    for source in c.get("envFrom", []):
                        if "configMapRef" in source:
                            r.get("ConfigMap", source["configMapRef"]["name"])
                        else:
                            self.assertEqual(source["secretRef"]["name"], SECRET_NAME)

    def test_selectors_select_pods_that_exist(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                for d in r.deployments():
                    labels = d["spec"]["template"]["metadata"]["labels"]
                    self.assertTrue(matches(d["spec"]["selector"], labels), f"{d['metadata']['name']}: selector")
                for s in r.of_kind("Service"):
                    selected = r.pods_selected(s["spec"]["selector"])
                    self.assertEqual(len(selected), 1, f"Service {s['metadata']['name']} selects {len(selected)}")
                    for port in s["spec"]["ports"]:
                        container_port(main_container(selected[0]), port["targetPort"])
                for p in r.of_kind("PodDisruptionBudget"):
                    self.assertEqual(p["apiVersion"], "policy/v1")
                    self.assertEqual(len(r.pods_selected(p["spec"]["selector"])), 1, f"PDB {p['metadata']['name']}")
                for h in r.of_kind("HorizontalPodAutoscaler"):
                    ref = h["spec"]["scaleTargetRef"]
                    self.assertEqual((ref["apiVersion"], ref["kind"]), ("apps/v1", "Deployment"))
                    r.get("Deployment", ref["name"])
                for n in r.of_kind("NetworkPolicy"):
                    selector = n["spec"]["podSelector"]
                    if selector:
                        self.assertTrue(r.pods_selected(selector), f"NetworkPolicy {n['metadata']['name']} selects nothing")
                for i in r.of_kind("Ingress"):
                    for rule in i["spec"]["rules"]:
                        for path in rule["http"]["paths"]:
                            backend = path["backend"]["service"]
                            service = r.get("Service", backend["name"])
                            names = [p.get("name") for p in service["spec"]["ports"]]
                            numbers = [p["port"] for p in service["spec"]["ports"]]
                            self.assertTrue(backend["port"].get("name") in names or backend["port"].get("number") in numbers,
                                            f"Ingress backend port {backend['port']}")

    def test_images_are_pinned(self):
        for r, d in self.each_deployment():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay, deployment=d["metadata"]["name"]):
                for c in all_containers(d["spec"]["template"]["spec"]):
                    image = c["image"]
                    tag = image.rsplit("/", 1)[-1].partition(":")[2]
                    self.assertTrue(tag or "@sha256:" in image, f"{c['name']}: {image} has no tag")
                    self.assertNotEqual(tag, "latest", f"{c['name']}: {image}")


class ProductionTest(OverlayCase):
    """What only the production overlay has."""

    overlays = ("production",)

    def test_hpa_scales_the_api_on_cpu_and_scales_down_slowly(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                hpas = r.of_kind("HorizontalPodAutoscaler")
                self.assertEqual(len(hpas), 1)
                h = hpas[0]
                self.assertEqual(h["apiVersion"], "autoscaling/v2")
                self.assertEqual(h["spec"]["scaleTargetRef"]["name"], "kargo-dsp-api")
                self.assertGreaterEqual(h["spec"]["minReplicas"], 2)
                self.assertGreater(h["spec"]["maxReplicas"], h["spec"]["minReplicas"])
                metrics = h["spec"]["metrics"]
                self.assertTrue(any(m["type"] == "Resource" and m["resource"]["name"] == "cpu"
                                    and m["resource"]["target"]["type"] == "Utilization" for m in metrics), metrics)
                self.assertGreaterEqual(h["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 60)
                # The HPA owns the replica count: an apply must not reset it.
                self.assertNotIn("replicas", r.get("Deployment", "kargo-dsp-api")["spec"])
                # Every process at its pool size stays within PostgreSQL's connections.
                pool = int(r.config()["data"]["DATABASE_POOL_SIZE"])
                workers = r.get("Deployment", "kargo-dsp-worker")["spec"]["replicas"]
                self.assertLess((h["spec"]["maxReplicas"] + workers) * pool, PG_MAX_CONNECTIONS - 10)

    def test_pdbs_cover_api_and_worker_and_allow_a_drain(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                hpa_min = r.of_kind("HorizontalPodAutoscaler")[0]["spec"]["minReplicas"]
                workers = r.get("Deployment", "kargo-dsp-worker")["spec"]["replicas"]
                for name, replicas in (("kargo-dsp-api", hpa_min), ("kargo-dsp-worker", workers)):
                    pdbs = [p for p in r.of_kind("PodDisruptionBudget")
                            if r.pods_selected(p["spec"]["selector"]) == [r.get("Deployment", name)]]
                    self.assertEqual(len(pdbs), 1, f"PDB for {name}")
                    spec = pdbs[0]["spec"]
                    if "minAvailable" in spec:
                        self.assertLess(spec["minAvailable"], replicas, f"{name}: the PDB blocks every eviction")
                    else:
                        self.assertGreaterEqual(spec["maxUnavailable"], 1, name)
                        self.assertGreater(replicas, spec["maxUnavailable"], f"{name}: all pods may go at once")

    def policies_for(self, r, deployment, policy_type):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        return [n for n in r.of_kind("NetworkPolicy")
                if policy_type in n["spec"].get("policyTypes", []) and matches(n["spec"]["podSelector"], labels)]

    def test_network_policies_deny_by_default(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                deny = [n for n in r.of_kind("NetworkPolicy") if n["spec"]["podSelector"] == {}]
                self.assertEqual(len(deny), 1, "one default-deny policy for the namespace")
                self.assertEqual(sorted(deny[0]["spec"]["policyTypes"]), ["Egress", "Ingress"])
                self.assertFalse(deny[0]["spec"].get("ingress") or deny[0]["spec"].get("egress"), "it must allow nothing")

    def assert_ingress_from(self, r, name, port, peers):
        rules = [rule for n in self.policies_for(r, r.get("Deployment", name), "Ingress")
                 for rule in n["spec"].get("ingress", [])]
        self.assertTrue(rules, f"{name}: no ingress rule")
        seen = set()
        for rule in rules:
            self.assertTrue(rule.get("from"), f"{name}: an ingress rule from anywhere")
            self.assertEqual([(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])], [("TCP", port)],
                             f"{name}: ingress ports")
            for peer in rule["from"]:
                self.assertNotIn("ipBlock", peer, name)
                ns, pods = peer.get("namespaceSelector"), peer.get("podSelector")
                self.assertTrue(ns and ns.get("matchLabels") and pods and pods.get("matchLabels"),
                                f"{name}: a peer needs both a namespace and a pod selector: {peer}")
                seen.add((tuple(sorted(ns["matchLabels"].items())), tuple(sorted(pods["matchLabels"].items()))))
        wanted = {(tuple(sorted(ns.items())), tuple(sorted(pods.items()))) for ns, pods in peers}
        self.assertEqual(seen, wanted, f"{name}: ingress peers")

    def test_api_takes_traffic_from_the_ingress_controller_and_prometheus_only(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                self.assert_ingress_from(r, "kargo-dsp-api", 8000, [INGRESS_CONTROLLER, PROMETHEUS])

    def test_worker_takes_scrapes_from_prometheus_only(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                self.assert_ingress_from(r, "kargo-dsp-worker", 8001, [PROMETHEUS])

    def test_egress_is_postgres_redis_dns_and_https_only(self):
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                for name in ("kargo-dsp-api", "kargo-dsp-worker"):
                    rules = [rule for n in self.policies_for(r, r.get("Deployment", name), "Egress")
                             for rule in n["spec"].get("egress", [])]
                    allowed = set()
                    for rule in rules:
                        self.assertTrue(rule.get("ports"), f"{name}: an egress rule without ports allows every port")
                        for p in rule["ports"]:
                            self.assertNotIn("endPort", p, name)
                            allowed.add((p.get("protocol", "TCP"), p["port"]))
                    self.assertEqual(allowed, ALLOWED_EGRESS, f"{name}: egress ports")

    def test_pods_spread_over_nodes_and_zones(self):
        for r, d in self.each_deployment():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay, deployment=d["metadata"]["name"]):
                name = d["metadata"]["name"]
                labels = d["spec"]["template"]["metadata"]["labels"]
                spread = {c["topologyKey"]: c for c in d["spec"]["template"]["spec"].get("topologySpreadConstraints", [])}
                self.assertIn("kubernetes.io/hostname", spread, name)
                self.assertIn("topology.kubernetes.io/zone", spread, name)
                self.assertEqual(spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"], "ScheduleAnyway", name)
                for c in spread.values():
                    self.assertTrue(matches(c["labelSelector"], labels), f"{name}: spread selector")
                    self.assertTrue(r.pods_selected(c["labelSelector"]) == [d], f"{name}: spread counts other pods")

    def test_ingress_allows_the_largest_body_and_the_longest_deadline(self):
        # The longest route deadline: the route timeouts of src/api and REQUEST_TIMEOUT_MS.
        route_ms = [int(ms) for f in (ARGS.root / "src" / "api").glob("*.cpp")
                    for ms in re.findall(r"milliseconds\s+k\w*Timeout\{(\d+)\}", f.read_text())]
        self.assertTrue(route_ms, "no route timeouts found in src/api")
        for r in self.each():
            with self.subTest(kubectl=r.kubectl, overlay=r.overlay):
                data = r.config()["data"]
                ingresses = r.of_kind("Ingress")
                self.assertEqual(len(ingresses), 1)
                notes = ingresses[0]["metadata"]["annotations"]
                body = quantity(notes["nginx.ingress.kubernetes.io/proxy-body-size"].replace("m", "Mi").replace("k", "Ki"))
                self.assertGreaterEqual(body, int(data["MAX_UPLOAD_BYTES"]))
                self.assertGreaterEqual(body, int(data["MAX_BODY_BYTES"]))
                longest_s = max(route_ms + [int(data["REQUEST_TIMEOUT_MS"])]) / 1000
                for key in ("proxy-read-timeout", "proxy-send-timeout"):
                    self.assertGreater(int(notes["nginx.ingress.kubernetes.io/" + key]), longest_s, key)
                paths = [p["path"] for rule in ingresses[0]["spec"]["rules"] for p in rule["http"]["paths"]]
                self.assertFalse([p for p in paths if p in ("/", "/health") or p.startswith("/health/")],
                                 f"/health/* (metrics) must not be public: {paths}")


class StagingTest(unittest.TestCase):
    def test_staging_is_small_and_apart(self):
        for kubectl in ARGS.kubectl:
            with self.subTest(kubectl=kubectl):
                r = Rendered(kubectl, "staging")
                self.assertEqual(r.of_kind("HorizontalPodAutoscaler"), [])
                for d in r.deployments():
                    self.assertIn(d["spec"].get("replicas"), (1, 2), d["metadata"]["name"])
                self.assertNotEqual(OVERLAYS["staging"], OVERLAYS["production"])


class LintTest(unittest.TestCase):
    def test_yamllint_strict(self):
        run = subprocess.run([ARGS.yamllint, "--strict", "-c", str(ARGS.root / ".yamllint"),
                              str(ARGS.root / "deploy" / "kubernetes")], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def test_renderers_agree(self):
        """With several kubectl versions, their renderings are the same objects."""
        def normal(objects):
            out = []
            for o in objects:
                text = yaml.safe_dump(o, sort_keys=True)
                # Generated names carry a hash of the content, which the versions compute differently.
                text = re.sub(r"kargo-dsp-config-[a-z0-9]+", "kargo-dsp-config", text)
                text = text.replace("  labels: {}\n", "").replace("  annotations: {}\n", "")
                out.append(text)
            return sorted(out)
        for overlay in OVERLAYS:
            first = normal(render(ARGS.kubectl[0], overlay))
            for other in ARGS.kubectl[1:]:
                self.assertEqual(first, normal(render(other, overlay)), f"{overlay}: {ARGS.kubectl[0]} vs {other}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[2])
    parser.add_argument("--kubectl", action="append", help="kubectl to render with (repeatable)")
    parser.add_argument("--yamllint", default="yamllint")
    args, rest = parser.parse_known_args()
    args.kubectl = args.kubectl or ["kubectl"]
    return args, rest


if __name__ == "__main__":
    ARGS, REST = parse_args()
    unittest.main(argv=[sys.argv[0], "-v"] + REST)
