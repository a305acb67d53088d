"""The deployment files in deploy/: they parse, hang together, and name only settings the hub has.

Structure checks always run (PyYAML, configparser, the hub's own settings class). Where a tool is on the machine it
checks too, and its test is skipped cleanly when it is not: `docker compose config`, `kubectl kustomize`,
`kubernetes-validate` (bundled schemas, offline), `systemd-analyze verify`, `shellcheck`, `hadolint`, `caddy adapt`.
Nothing here needs the network, a Docker engine or an image.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.settings import HubSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"
K8S = DEPLOY / "k8s"
UNIT = DEPLOY / "edge" / "tracseq-edge.service"
INSTALL = DEPLOY / "edge" / "install.sh"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"

HUB_ENV = re.compile(r"\bTRACSEQ_HUB_[A-Z0-9_]+\b")
REFERENCE = re.compile(r"^\$\{[A-Z0-9_]+(?::?[-?][^}]*)?\}$")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|REDISCLI_AUTH|(?<!_FILE)KEY$")
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")
DUMMY_SECRET = "x" * 48


def hub_env_names() -> set[str]:
    return {f"TRACSEQ_HUB_{name.upper()}" for name in HubSettings.model_fields}


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed here")
    return found


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


# -- compose -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def interpolate(text: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}: defaults where given, a dummy secret otherwise."""

    def value(match: re.Match[str]) -> str:
        name, op, default = match.groups()
        if name in os.environ and name.startswith("TRACSEQ_TEST_"):
            return os.environ[name]
        return default if op == "-" else DUMMY_SECRET

    return INTERPOLATION.sub(value, text.replace("$$", "$"))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def test_compose_has_the_production_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"migrate", "api", "worker", "postgres", "redis", "mosquitto", "caddy"} <= set(services)
    assert "tracseq hub migrate" in " ".join(services["migrate"]["command"])
    assert services["migrate"]["restart"] == "no"
    assert services["worker"]["command"] == ["tracseq", "hub", "worker"]
    assert services["api"]["command"][:3] == ["tracseq", "hub", "serve"]
    assert int(interpolate(str(services["api"]["deploy"]["replicas"]))) >= 2
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert env_of(services[name])["TRACSEQ_HUB_REDIS_URL"], "several hub processes need Redis"
    assert "ports" not in services["api"], "the API is reached through the proxy only"
    for name in ("postgres", "redis"):
        assert "ports" not in services[name]
        assert compose["networks"][services[name]["networks"][0]].get("internal") is True


def test_every_compose_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        assert check.get("test"), f"{name} has no health check"
        assert not check.get("disable"), f"{name} disables its health check"
    assert "/readyz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])


def test_compose_inlines_no_secret(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in env_of(service).items():
            if SECRET_NAME.search(key):
                assert REFERENCE.match(value), f"{name}: {key} must be a ${{VAR}} reference, not a value"
            for password in re.findall(r"://[^:/@\s]*:([^@\s]+)@", value):
                assert REFERENCE.match(password), f"{name}: {key} carries a password that is not a ${{VAR}}"
    text = COMPOSE.read_text(encoding="utf-8")
    assert not re.search(r"(?i)(password|secret)\s*[:=]\s*['\"]?[A-Za-z0-9+/]{12,}", text)


def test_compose_volumes_and_mounted_files_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                if source in {"./backups", "./certs"}:  # made by the operator (ignored by git)
                    continue
                assert (COMPOSE_DIR / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    build = compose["x-hub"]["build"]
    assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_env_example_names_every_required_variable(compose: dict[str, Any]) -> None:
    required = {m.group(1) for m in INTERPOLATION.finditer(COMPOSE.read_text(encoding="utf-8")) if m.group(2) == "?"}
    example = (COMPOSE_DIR / ".env.example").read_text(encoding="utf-8")
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert required <= listed
    assert all(
        not line.split("=", 1)[1] for line in example.splitlines() if re.match(r"[A-Z_]*(PASSWORD|SECRET)=", line)
    )
    assert ".env" in (COMPOSE_DIR / ".gitignore").read_text(encoding="utf-8").split()


def test_compose_hub_environment_is_valid_hub_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("migrate", "api", "worker"):
        env = {k: interpolate(v) for k, v in env_of(compose["services"][name]).items() if k.startswith("TRACSEQ_HUB_")}
        for key in [k for k in os.environ if k.startswith("TRACSEQ_HUB_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = HubSettings()
        assert settings.environment == "production"
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert not settings.notify_in_process
        assert not settings.alerts_in_process


def test_docker_compose_config() -> None:
    docker = tool("docker")
    if run(docker, "compose", "version").returncode != 0:
        pytest.skip("docker is here but its compose plugin is not")
    env = dict(os.environ)
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "MQTT_PASSWORD", "TRACSEQ_HUB_JWT_SECRET"):
        env.setdefault(name, DUMMY_SECRET)
    env.setdefault("TRACSEQ_DOMAIN", "hub.lab.example")
    result = run(docker, "compose", "-f", str(COMPOSE), "config", "--quiet", env=env, cwd=COMPOSE_DIR)
    assert result.returncode == 0, result.stderr


# -- the hub image -------------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_copies_files_that_exist_and_passes_the_ignore_file() -> None:
    ignore = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = [p[1:].rstrip("/") for p in ignore if p.startswith("!")]
    copies = [rest for word, rest in dockerfile_instructions() if word == "COPY" and "--from=" not in rest]
    assert copies
    for rest in copies:
        *sources, _dest = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert any(source.rstrip("/") == a or source.startswith(a + "/") for a in allowed), (
                f"COPY {source} is excluded by Dockerfile.dockerignore"
            )


def test_dockerfile_is_multi_stage_non_root_with_a_readiness_check() -> None:
    instructions = dockerfile_instructions()
    assert sum(word == "FROM" for word, _ in instructions) >= 2
    users = [rest for word, rest in instructions if word == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert any(word == "HEALTHCHECK" and "/readyz" in rest for word, rest in instructions)
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    )
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG" and "=" in rest)
    installs = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], m)
        for _, rest in instructions
        for m in re.findall(r'"\.\[([\w,${}-]+)\]"', rest)
    ]
    assert installs
    assert "hub" in installs[0].split(",")
    assert set(installs[0].split(",")) <= extras
    if "ai" in extras:
        assert "ai" in installs[0].split(",")
    for word, rest in instructions:
        if word == "ENV":
            assert set(HUB_ENV.findall(rest)) <= hub_env_names()


def test_hadolint() -> None:
    result = run(tool("hadolint"), str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_healthcheck_helper(tmp_path: Path) -> None:
    sys.path.insert(0, str(COMPOSE_DIR))
    try:
        import healthcheck
    finally:
        sys.path.remove(str(COMPOSE_DIR))
    assert healthcheck.endpoint("postgresql+asyncpg://u:p@db:6543/x") == ("db", 6543)
    assert healthcheck.endpoint("redis://:p@redis/0") == ("redis", 6379)
    assert healthcheck.endpoint("sqlite+aiosqlite:///./hub.db") is None
    assert healthcheck.main(["file:///etc/passwd"]) == 1
    assert healthcheck.main([]) == 2


def test_caddyfile_terminates_tls_and_proxies_to_the_api(compose: dict[str, Any]) -> None:
    text = (COMPOSE_DIR / "Caddyfile").read_text(encoding="utf-8")
    assert re.search(r"^\s*tls\s", text, re.M)
    assert re.search(r"dynamic a api 8000", text)
    assert "api" in compose["services"]
    assert "--port" in compose["services"]["api"]["command"]
    port = compose["services"]["api"]["command"][compose["services"]["api"]["command"].index("--port") + 1]
    assert port == "8000"


def test_caddy_adapts_the_caddyfile(tmp_path: Path) -> None:
    caddy = tool("caddy")
    env = {**os.environ, "TRACSEQ_DOMAIN": "hub.lab.example", "XDG_DATA_HOME": str(tmp_path)}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    result = run(caddy, "adapt", "--config", str(COMPOSE_DIR / "Caddyfile"), "--adapter", "caddyfile", env=env)
    assert result.returncode == 0, result.stderr
    assert "hub.lab.example" in result.stdout


# -- Kubernetes ----------------------------------------------------------------------------------------------------

K8S_FILES = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in K8S_FILES:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                doc["_file"] = path.name
                docs.append(doc)
    return docs


def by_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests if d["kind"] == kind]


def test_manifests_are_well_formed(manifests: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in manifests}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "Ingress", "Job"} <= kinds
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    for doc in manifests:
        assert doc.get("apiVersion"), doc["_file"]
        assert doc.get("kind"), doc["_file"]
        assert doc["metadata"].get("name"), doc["_file"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "tracseq", f"{doc['_file']}: {doc['metadata']['name']}"


def pod_specs(manifests: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in manifests if d["kind"] in {"Deployment", "Job"}
    ]


def test_pods_run_non_root_with_resources(manifests: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(manifests):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] != 0, name
        assert "fsGroup" not in pod, f"{name}: fsGroup would make the key files group-readable (refused by the hub)"
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"] + spec.get("initContainers", []):
            where = f"{name}/{container['name']}"
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where


def test_deployments_have_probes(manifests: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"]: d for d in by_kind(manifests, "Deployment")}
    assert {"tracseq-hub-api", "tracseq-hub-worker"} <= set(deployments)
    for name, deployment in deployments.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container.get("readinessProbe"), name
            assert container.get("livenessProbe"), name
    api = deployments["tracseq-hub-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["command"][:3] == ["tracseq", "hub", "serve"]
    worker = deployments["tracseq-hub-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == ["tracseq", "hub", "worker"]
    (job,) = by_kind(manifests, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["tracseq", "hub", "migrate"]


def test_objects_refer_to_each_other(manifests: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"]: d for d in by_kind(manifests, "Deployment")}
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]

    def selects(selector: dict[str, str]) -> bool:
        return any(selector.items() <= labels.items() for labels in pod_labels)

    for deployment in deployments.values():
        assert (
            deployment["spec"]["selector"]["matchLabels"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )
    for hpa in by_kind(manifests, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        assert hpa["spec"]["minReplicas"] >= 2
    for pdb in by_kind(manifests, "PodDisruptionBudget"):
        assert selects(pdb["spec"]["selector"]["matchLabels"])
    services = {s["metadata"]["name"]: s for s in by_kind(manifests, "Service")}
    for service in services.values():
        assert selects(service["spec"]["selector"])
    for ingress in by_kind(manifests, "Ingress"):
        assert ingress["spec"]["tls"]
        assert ingress["spec"]["tls"][0]["secretName"]
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in services
    for policy in by_kind(manifests, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels")
        assert selector is None or selects(selector)
    configmaps = {c["metadata"]["name"] for c in by_kind(manifests, "ConfigMap")}
    secrets = {s["metadata"]["name"] for s in by_kind(manifests, "Secret")}
    for name, spec in pod_specs(manifests):
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps, name
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, name
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, name


def api_path_prefixes() -> set[str]:
    """The first path segment of every router the app includes, read from the source (building the app takes
    seconds): a router's prefix, or the paths of its routes when it has none. Nested routers share their parent's."""
    app = (ROOT / "hub" / "api" / "app.py").read_text(encoding="utf-8")
    block = re.search(r"for router in \((.*?)\):\s*app\.include_router\(router\)", app, re.S)
    assert block, "hub/api/app.py no longer includes its routers in one loop: update this test"
    prefixes = set()
    for module, var in re.findall(r"(\w+)\.(\w+)", block.group(1)):
        text = (ROOT / "hub" / "api" / "routes" / f"{module}.py").read_text(encoding="utf-8")
        args = re.search(rf"^{var} = APIRouter\(([^)]*)\)", text, re.M)
        assert args, f"{module}.{var}"
        prefix = re.search(r'prefix="([^"]*)"', args.group(1))
        if prefix:
            prefixes.add("/" + prefix.group(1).split("/")[1])
        else:
            routes = re.findall(rf'@{var}\.(?:get|post|put|patch|delete|head|api_route)\(\s*"([^"]*)"', text)
            prefixes |= {"/" + route.split("/")[1] for route in routes}
    return prefixes


def test_ingress_routes_every_public_api_path_but_not_metrics(manifests: list[dict[str, Any]]) -> None:
    prefixes = api_path_prefixes()
    assert {"/v1", "/healthz", "/readyz", "/metrics"} <= prefixes
    (ingress,) = by_kind(manifests, "Ingress")
    routed = {p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert prefixes - {"/metrics"} <= routed, "a new path prefix of the API is not routed by the Ingress"
    assert "/metrics" not in routed
    assert "/" not in routed


def test_kustomization_lists_the_manifests_but_no_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    resources = kustomization["resources"]
    assert all((K8S / r).exists() for r in resources)
    assert "secret.example.yaml" not in resources


def test_example_secrets_hold_no_secret(manifests: list[dict[str, Any]]) -> None:
    for secret in by_kind(manifests, "Secret"):
        assert "data" not in secret, "base64 data could hide a real secret"
        for key, value in secret["stringData"].items():
            assert re.search(r"REPLACE-ME|change-me", value), f"{secret['metadata']['name']}.{key} looks real"


def test_kubernetes_settings_are_valid_hub_settings(
    manifests: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (configmap,) = by_kind(manifests, "ConfigMap")
    for key in [k for k in os.environ if k.startswith("TRACSEQ_HUB_")]:
        monkeypatch.delenv(key)
    for key, value in configmap["data"].items():
        monkeypatch.setenv(key, value)
    for secret in by_kind(manifests, "Secret"):
        for key, value in secret["stringData"].items():
            if key.startswith("TRACSEQ_HUB_"):
                monkeypatch.setenv(key, DUMMY_SECRET if "SECRET" in key else value)
    settings = HubSettings()
    assert settings.environment == "production"
    assert settings.redis_url
    mounts = {
        m["mountPath"]
        for d in by_kind(manifests, "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
        for m in c.get("volumeMounts", [])
    }
    assert str(settings.audit_key_file.parent) in mounts
    assert settings.witness_key_file.parent == settings.audit_key_file.parent


def test_kubectl_kustomize_builds_the_manifests() -> None:
    kubectl = tool("kubectl")
    result = run(kubectl, "kustomize", str(K8S))
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert "Deployment" in kinds
    assert "Secret" not in kinds


def test_kubernetes_validate_against_the_api_schemas() -> None:
    validator = shutil.which("kubernetes-validate") or pytest.skip("kubernetes-validate is not installed here")
    result = run(validator, "--strict", "--quiet", *map(str, K8S_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


# -- settings names ------------------------------------------------------------------------------------------------


def test_every_hub_variable_named_in_deploy_files_is_a_hub_setting() -> None:
    """Drift: a renamed or removed HubSettings field fails here, not at a lab's first start."""
    files = [*DEPLOY.rglob("*.yaml"), *COMPOSE_DIR.glob("*"), *DEPLOY.rglob("*.py"), UNIT, INSTALL]
    if OPERATIONS.exists():
        files.append(OPERATIONS)
    known = hub_env_names()
    for path in files:
        if path.is_file():
            unknown = set(HUB_ENV.findall(path.read_text(encoding="utf-8"))) - known
            assert not unknown, f"{path.relative_to(ROOT)} names settings the hub does not have: {sorted(unknown)}"


# -- the edge ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def install_var(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", INSTALL.read_text(encoding="utf-8"), re.M)
    assert match, name
    return re.sub(r"\$(\w+)", lambda m: install_var(m.group(1)), match.group(1))


def test_unit_is_hardened_and_restarts(unit: configparser.ConfigParser) -> None:
    service = unit["Service"]
    data_dir = install_var("DATA_DIR")
    assert service["User"] == install_var("USER_NAME") != "root"
    assert service["ProtectSystem"] == "strict"
    assert data_dir in service["ReadWritePaths"].split()
    assert service["NoNewPrivileges"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert service["Restart"] == "on-failure"
    assert int(service["TimeoutStopSec"]) >= 30, "time for in-flight polls, the final flush and checkpoint"
    assert service["KillSignal"] == "SIGTERM"
    assert service["StateDirectory"] == Path(data_dir).name
    assert service["StateDirectoryMode"] == "0700"
    assert (
        service["ExecStart"] == f"{install_var('VENV_LINK')}/bin/tracseq edge run --config {install_var('CONF_FILE')}"
    )
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    # verify wants ExecStart's program to exist: point it at this interpreter, keep everything else
    text = UNIT.read_text(encoding="utf-8").replace(f"{install_var('VENV_LINK')}/bin/tracseq", sys.executable)
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    result = run(analyze, "verify", "--man=no", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_script_parses() -> None:
    result = run("bash", "-n", str(INSTALL))
    assert result.returncode == 0, result.stderr
    assert os.access(INSTALL, os.X_OK)


def test_shellcheck() -> None:
    result = run(tool("shellcheck"), "-x", str(INSTALL))
    assert result.returncode == 0, result.stdout


def dry_run(*args: str) -> list[str]:
    result = run("bash", str(INSTALL), "--dry-run", "--python", sys.executable, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_install_makes_private_directories_and_files() -> None:
    lines = dry_run("--config", str(DEPLOY / "edge" / "freezer-host.example.toml"))
    text = "\n".join(lines)
    assert f"install -d -m 0700 -o tracseq-edge -g tracseq-edge {install_var('DATA_DIR')}" in text
    assert "install -m 0640 -o root -g tracseq-edge" in text
    assert install_var("CONF_FILE") in text
    assert "systemctl enable tracseq-edge.service" in text
    assert "log.db" not in text


def test_upgrade_stops_backs_up_upgrades_starts_and_checks_in_that_order() -> None:
    lines = dry_run("--upgrade", "--package", "tracseq[edge]")

    def first(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    order = [
        first("systemctl stop"),
        first("tar --create"),
        first("pip install --quiet tracseq[edge]"),
        first("mv -Tf"),
        first("systemctl start"),
        first("edge status"),
    ]
    assert order == sorted(order), lines
    assert not any(re.search(r"\b(rm|mv|cp)\b.*log\.db", line) for line in lines)
