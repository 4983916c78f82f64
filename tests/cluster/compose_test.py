#!/usr/bin/python3
"""docker/compose.yaml and the nginx template it shares with scripts/cluster.sh, checked without
Docker: yamllint; the compose file's shape (api replicas behind nginx, nginx the only way in, a
read-only root with a writable /tmp); every placeholder of the template given by the nginx
service; and the template rendered as the nginx image renders it, accepted by `nginx -t`.

Debian's nginx (1.22) predates the `resolve` server parameter (1.27.3) that compose uses to follow
the api replicas, so the rendered upstream line is checked with `resolve` removed and the
service name pointed at 127.0.0.1; the rest of the file is checked as it is.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE = os.path.join(ROOT, "docker", "compose.yaml")
TEMPLATE = os.path.join(ROOT, "deploy", "nginx", "kargo-dsp.conf.template")
YAMLLINT = "{extends: default, rules: {line-length: {max: 120}, document-start: disable}}"

problems = []


def expect(cond, msg):
    if not cond:
        problems.append(msg)


def envsubst(text, env):
    """What the image's envsubst does with NGINX_ENVSUBST_FILTER: only the given names."""
    for name, value in env.items():
        text = text.replace("${" + name + "}", value)
    return text


def main():
    lint = subprocess.run(["yamllint", "-s", "-d", YAMLLINT, COMPOSE], capture_output=True, text=True)
    expect(lint.returncode == 0, f"yamllint docker/compose.yaml:\n{lint.stdout}{lint.stderr}")

    with open(COMPOSE) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    api, worker, nginx = services["api"], services["worker"], services["nginx"]
    expect(api["command"] == ["serve"] and worker["command"] == ["worker"], "api runs serve, worker runs worker")
    expect(api.get("deploy", {}).get("replicas", 1) >= 2, "api has at least 2 replicas")
    expect(worker.get("deploy", {}).get("replicas", 1) >= 1, "worker has replicas")
    for name, svc in services.items():
        if name != "nginx":
            expect(not svc.get("ports"), f"{name} publishes ports: only nginx is the way in")
    expect(nginx.get("ports") == ["8000:8000"], f"nginx publishes 8000: {nginx.get('ports')}")
    expect(nginx["depends_on"]["api"]["condition"] == "service_healthy", "nginx waits for healthy api replicas")
    for name in ("api", "worker", "migrate"):
        svc = services[name]
        expect(svc.get("read_only") is True and "/tmp" in svc.get("tmpfs", []),
               f"{name}: read-only root with a tmpfs at /tmp")
        expect(svc["environment"]["PORT"] == "8000", f"{name}: PORT 8000 (nginx's upstream port)")

    # A stopped api replica: the delay, then the in-flight grace (20 s unless set), before the kill.
    delay = int(api["environment"].get("SHUTDOWN_DELAY_SECONDS", "0"))
    grace = int(api["environment"].get("SHUTDOWN_GRACE_SECONDS", "20"))
    stop = int(str(api.get("stop_grace_period", "10s")).rstrip("s"))
    expect(delay + grace < stop,
           f"api: SHUTDOWN_DELAY {delay} + GRACE {grace} s must fit in stop_grace_period {stop} s")

    # The template nginx mounts is the repository's, and nginx's environment fills it.
    mounts = [v.split(":") for v in nginx["volumes"]]
    source = [os.path.normpath(os.path.join(ROOT, "docker", m[0])) for m in mounts
              if m[1].startswith("/etc/nginx/templates/")]
    expect(source == [TEMPLATE], f"nginx mounts {source}, expected {TEMPLATE}")
    expect(any(m[1] == "/etc/nginx/templates/default.conf.template" for m in mounts),
           "the template replaces the image's default site (default.conf)")
    with open(TEMPLATE) as f:
        template = f.read()
    placeholders = set(re.findall(r"\$\{(KARGO_[A-Z_]+)\}", template))
    env = {k: str(v) for k, v in nginx["environment"].items()}
    expect(placeholders == {k for k in env if k.startswith("KARGO_")},
           f"template placeholders {sorted(placeholders)} != nginx environment {sorted(env)}")
    expect(re.search(env.get("NGINX_ENVSUBST_FILTER", "^$"), "KARGO_NGINX_LISTEN") is not None,
           "NGINX_ENVSUBST_FILTER lets the KARGO_ variables through")
    servers = env.get("KARGO_UPSTREAM_SERVERS", "")
    expect(re.fullmatch(r"server api:8000 resolve max_fails=\d+ fail_timeout=\d+s;", servers) is not None,
           f"the upstream follows the api replicas by name: {servers!r}")

    # Rendered as in the container (compose interpolation gives the default body limit), then
    # checked by nginx in a scratch prefix.
    env["KARGO_MAX_BODY_SIZE"] = re.sub(r"^\$\{MAX_UPLOAD_BYTES:-(\d+)\}$", r"\1", env["KARGO_MAX_BODY_SIZE"])
    expect(env["KARGO_MAX_BODY_SIZE"] == "20971520", f"nginx's default body limit: {env['KARGO_MAX_BODY_SIZE']}")
    env["KARGO_UPSTREAM_SERVERS"] = servers.replace("api:8000 resolve", "127.0.0.1:8000")
    work = tempfile.mkdtemp(prefix="kargo-compose-")
    try:
        env["KARGO_NGINX_ACCESS_LOG"] = os.path.join(work, "access.log")
        rendered = envsubst(template, env)
        expect("${KARGO_" not in rendered, "placeholders left after rendering")
        with open(os.path.join(work, "kargo-dsp.conf"), "w") as f:
            f.write(rendered)
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write(f"pid {work}/nginx.pid;\nevents {{}}\nhttp {{\n"
                    f"    client_body_temp_path {work}/body;\n    proxy_temp_path {work}/proxy;\n"
                    f"    include {work}/kargo-dsp.conf;\n}}\n")
        t = subprocess.run(["nginx", "-t", "-q", "-p", work + "/", "-c", f"{work}/nginx.conf",
                            "-e", f"{work}/error.log"], capture_output=True, text=True)
        expect(t.returncode == 0, f"nginx -t rejects the template as compose renders it:\n{t.stderr}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("docker/compose.yaml and deploy/nginx/kargo-dsp.conf.template: ok")


if __name__ == "__main__":
    main()
