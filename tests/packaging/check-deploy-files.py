#!/usr/bin/env python3
"""Checks installers/docker and installers/kubernetes without a container engine or a cluster: every YAML
document parses and names its kind; Services, the PodDisruptionBudget and the kustomization point at
objects that exist; the gateway has 3 replicas, probes on /healthz and /readyz, resources and a non-root
security context; the Grafana dashboard parses and asks only for metrics the gateway exports; each
Dockerfile is multi-stage from debian:12, runs as a non-root user and has a HEALTHCHECK.
Usage: check-deploy-files.py SOURCE_DIR. Exit status 0 pass, 1 fail, 77 skip (no PyYAML)."""
import json
import os
import re
import sys

try:
    import yaml
except ImportError:
    print("SKIP   : PyYAML is missing (apt-get install python3-yaml): the manifests were not checked")
    sys.exit(77)

root = sys.argv[1]
kube = os.path.join(root, "installers", "kubernetes")
docker = os.path.join(root, "installers", "docker")
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


# --- Kubernetes manifests -------------------------------------------------------------------------------
objects = {}
for name in sorted(os.listdir(kube)):
    if not name.endswith(".yaml"):
        continue
    with open(os.path.join(kube, name)) as f:
        try:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as error:
            failures.append(f"{name}: does not parse: {error}")
            continue
    for doc in docs:
        kind = doc.get("kind")
        meta = doc.get("metadata") or {}
        check(kind and doc.get("apiVersion"), f"{name}: a document without kind or apiVersion")
        if kind == "Kustomization":
            objects[("Kustomization", name)] = (name, doc)
            continue
        check(meta.get("name"), f"{name}: a {kind} without a name")
        objects[(kind, meta.get("name"))] = (name, doc)


def get(kind, name):
    entry = objects.get((kind, name))
    check(entry is not None, f"no {kind} named {name}")
    return entry[1] if entry else {}


deployment = get("Deployment", "declai-gateway")
spec = deployment.get("spec", {})
check(spec.get("replicas") == 3, "the gateway Deployment does not have 3 replicas")
labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
selector = spec.get("selector", {}).get("matchLabels", {})
check(selector and all(labels.get(k) == v for k, v in selector.items()),
      "the gateway Deployment's selector does not match its pod labels")
pod = spec.get("template", {}).get("spec", {})
check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "the gateway pod may run as root")
containers = pod.get("containers", [])
check(len(containers) == 1, "the gateway pod should have one container")
for container in containers:
    probes = {p: container.get(p, {}).get("httpGet", {}) for p in ("readinessProbe", "livenessProbe")}
    check(probes["readinessProbe"].get("path") == "/readyz", "the readiness probe is not on /readyz")
    check(probes["livenessProbe"].get("path") == "/healthz", "the liveness probe is not on /healthz")
    for probe in probes.values():
        check(probe.get("scheme") == "HTTPS", "a probe does not use HTTPS (the gateway only speaks TLS)")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        check(resources.get(part, {}).get("cpu") and resources.get(part, {}).get("memory"),
              f"the gateway container has no cpu/memory {part}")
    context = container.get("securityContext", {})
    check(context.get("allowPrivilegeEscalation") is False, "the gateway container allows privilege escalation")
    check(context.get("capabilities", {}).get("drop") == ["ALL"], "the gateway container keeps capabilities")
    # Every $(NAME) in the arguments comes from an env entry or the ConfigMap.
    env_names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        config = get("ConfigMap", source.get("configMapRef", {}).get("name"))
        env_names |= set(config.get("data", {}))
    for arg in container.get("args", []):
        for ref in re.findall(r"\$\((\w+)\)", str(arg)):
            check(ref in env_names, f"the gateway argument $({ref}) has no value")
    for entry in container.get("env", []):
        secret = entry.get("valueFrom", {}).get("secretKeyRef")
        if secret:
            get("Secret", secret["name"])
for volume in pod.get("volumes", []):
    if "secret" in volume and not volume["secret"].get("optional"):
        get("Secret", volume["secret"]["secretName"])
    if "persistentVolumeClaim" in volume:
        get("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])

pdb = get("PodDisruptionBudget", "declai-gateway")
check(pdb.get("spec", {}).get("selector", {}).get("matchLabels") == selector,
      "the PodDisruptionBudget does not select the gateway pods")
check(pdb.get("spec", {}).get("minAvailable") == 2, "the PodDisruptionBudget should keep 2 of 3 gateways")
for name in ("declai-gateway", "declai-gateway-volunteers"):
    service = get("Service", name).get("spec", {})
    check(all(labels.get(k) == v for k, v in service.get("selector", {}).items()) and service.get("selector"),
          f"Service {name} does not select the gateway pods")
check(get("Service", "declai-gateway-volunteers").get("spec", {}).get("publishNotReadyAddresses") is True,
      "volunteers must reach gateways that are not ready yet (a gateway is ready once nodes joined it)")
postgres = get("StatefulSet", "declai-postgres")
postgres_labels = postgres.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
check(all(postgres_labels.get(k) == v for k, v in get("Service", "declai-postgres").get("spec", {}).get("selector", {}).items()),
      "Service declai-postgres does not select the PostgreSQL pod")
check("host=declai-postgres " in get("ConfigMap", "declai-gateway").get("data", {}).get("LEDGER_DSN", ""),
      "LEDGER_DSN does not point at the declai-postgres Service")
check(get("Secret", "declai-gateway-tls").get("type") == "kubernetes.io/tls", "the TLS Secret is not of type kubernetes.io/tls")

kustomization = objects.get(("Kustomization", "kustomization.yaml"), (None, {}))[1]
listed = set(kustomization.get("resources", []))
manifests = {n for n in os.listdir(kube) if n.endswith(".yaml") and n != "kustomization.yaml"}
check(listed == manifests, f"kustomization.yaml lists {sorted(listed)}, the folder has {sorted(manifests)}")
for generator in kustomization.get("configMapGenerator", []):
    for file in generator.get("files", []):
        check(os.path.exists(os.path.join(kube, file)), f"kustomization.yaml names a missing file {file}")

# --- Grafana dashboard ------------------------------------------------------------------------------------
exported = {"declai_nodes_connected", "declai_sessions_active", "declai_queue_depth", "declai_tokens_generated_total",
            "declai_time_to_first_token_seconds_bucket", "declai_token_latency_seconds_bucket",
            "declai_requests_ended_total", "declai_http_responses_total", "declai_failovers_total",
            "declai_nodes_quarantined_total", "declai_verifications_total", "declai_ledger_postings_total",
            "declai_connections_open", "declai_clients_connected", "declai_connections_accepted_total",
            "declai_relayed_bytes_total", "declai_stage_hops_total", "declai_tokens_per_second"}
try:
    with open(os.path.join(kube, "grafana-dashboard.json")) as f:
        dashboard = json.load(f)
    panels = dashboard.get("panels", [])
    check(len(panels) >= 8, "the dashboard has fewer than 8 panels")
    ids = [p.get("id") for p in panels]
    check(len(ids) == len(set(ids)), "two dashboard panels share an id")
    for panel in panels:
        for target in panel.get("targets", []):
            for metric in re.findall(r"\bdeclai_\w+", target.get("expr", "")):
                check(metric in exported, f"dashboard panel '{panel.get('title')}' asks for unknown metric {metric}")
except (OSError, ValueError) as error:
    failures.append(f"grafana-dashboard.json: {error}")

# --- Dockerfiles ---------------------------------------------------------------------------------------------
for name in ("Dockerfile.server", "Dockerfile.node"):
    with open(os.path.join(docker, name)) as f:
        lines = [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
    froms = [l for l in lines if l.upper().startswith("FROM ")]
    check(len(froms) >= 2, f"{name} is not multi-stage")
    check(any("ARG DEBIAN_IMAGE=debian:12" == l for l in lines), f"{name} is not based on debian:12")
    users = [l.split()[1] for l in lines if l.upper().startswith("USER ")]
    check(users and users[-1].split(":")[0] not in ("0", "root"), f"{name} runs as root")
    check(any(l.upper().startswith("HEALTHCHECK ") for l in lines), f"{name} has no HEALTHCHECK")
    check(os.path.exists(os.path.join(docker, name + ".dockerignore")), f"{name} has no .dockerignore")
with open(os.path.join(docker, "Dockerfile.server")) as f:
    check("/healthz" in f.read(), "Dockerfile.server's health check does not use /healthz")

for failure in failures:
    print(f"FAIL!  : {failure}")
if failures:
    sys.exit(1)
print(f"PASS   : {len(objects)} Kubernetes objects, the Grafana dashboard and 2 Dockerfiles are consistent")
