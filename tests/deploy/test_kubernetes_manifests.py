"""The Kubernetes manifests: valid against the Kubernetes schemas, and wired to each other correctly."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy import kit

# The oldest Kubernetes minor the kit targets; strict mode also rejects unknown fields (typos).
KUBERNETES_VERSION = "1.30.0"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.mark.parametrize("path", kit.manifest_files(), ids=lambda p: p.name)
def test_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    docs = kit.documents(path)
    assert docs, f"{path.name} holds no object"
    for doc in docs:
        # SchemaNotFoundError (an unknown kind or apiVersion) propagates and fails the test too.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_strict_schema_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(kit.one("Deployment"))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_existing_files_and_accounts_for_every_manifest() -> None:
    listed = kit.kustomization()["resources"]
    assert len(listed) == len(set(listed))
    for name in listed:
        assert (kit.KUBERNETES / name).is_file(), f"kustomization.yaml lists missing {name}"
    on_disk = {p.name for p in kit.manifest_files()}
    assert on_disk - set(listed) == kit.NOT_IN_KUSTOMIZATION
    # The controller and the one-shot job write the same record; they must never be applied together.
    assert not ({"deployment.yaml", "cronjob.yaml"} <= set(listed))


def test_kustomization_image_override_names_the_workloads_image() -> None:
    images = {i["name"] for i in kit.kustomization()["images"]}
    for kind in ("Deployment", "CronJob"):
        image = kit.container(kit.one(kind))["image"]
        assert image.split(":")[0] in images


def test_every_object_lives_in_the_dnsctl_namespace() -> None:
    namespace = kit.one("Namespace")["metadata"]["name"]
    assert kit.kustomization()["namespace"] == namespace
    for path in kit.manifest_files():
        for doc in kit.documents(path):
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == namespace, f"{path.name}: {doc['kind']}"


def test_deployment_runs_two_replicas_of_dnsctl_run_with_the_configmap() -> None:
    deployment = kit.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert kit.selects(deployment["spec"]["selector"]["matchLabels"], kit.pod_labels(deployment))
    args = kit.container(deployment)["args"]
    assert "run" in args
    assert_reads_the_configmap(deployment, args)


def test_deployment_uses_workload_identity() -> None:
    deployment = kit.one("Deployment")
    account = kit.one("ServiceAccount")
    assert kit.pod_labels(deployment)["azure.workload.identity/use"] == "true"
    assert kit.pod_spec(deployment)["serviceAccountName"] == account["metadata"]["name"]
    client_id = account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    assert GUID.match(client_id)
    config = kit.configmap_config()
    assert "credential: workload" in config
    assert "lease: azure-blob" in config


def test_probes_check_healthz_and_readyz_on_the_admin_port() -> None:
    port = kit.admin_port()
    main = kit.container(kit.one("Deployment"))
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        command = main[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"]
        assert f"http://127.0.0.1:{port}{path}'" in command[2]
        assert main[probe]["timeoutSeconds"] >= 1
    assert {"name": "admin", "containerPort": port, "protocol": "TCP"} in main["ports"]


def test_admin_token_comes_from_the_documented_secret() -> None:
    secret = kit.one("Secret")
    (env,) = [e for e in kit.container(kit.one("Deployment"))["env"] if e["name"] == "DNSCTL_ADMIN_TOKEN"]
    ref = env["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in secret["stringData"]
    assert "REPLACE" in secret["stringData"][ref["key"]], "the example Secret must hold a placeholder only"


def test_pods_are_locked_down() -> None:
    for kind in ("Deployment", "CronJob"):
        workload = kit.one(kind)
        pod = kit.pod_spec(workload)
        main = kit.container(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        sc = main["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert "add" not in sc["capabilities"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(main["resources"][bound]), f"{kind} {bound}"


def test_deployment_spreads_replicas_and_stops_gracefully() -> None:
    deployment = kit.one("Deployment")
    pod = kit.pod_spec(deployment)
    labels = kit.pod_labels(deployment)
    spreads = pod.get("topologySpreadConstraints", [])
    anti = pod.get("affinity", {}).get("podAntiAffinity")
    assert anti or any(
        c["topologyKey"] == "kubernetes.io/hostname"
        and kit.selects(c["labelSelector"]["matchLabels"], labels)
        for c in spreads
    )
    assert 10 <= pod["terminationGracePeriodSeconds"] <= 120


def test_pdb_and_service_select_the_deployments_pods_only() -> None:
    deployment_pods = kit.pod_labels(kit.one("Deployment"))
    cronjob_pods = kit.pod_labels(kit.one("CronJob"))
    pdb = kit.one("PodDisruptionBudget")
    service = kit.one("Service")
    assert pdb["spec"]["minAvailable"] == 1
    for selector in (pdb["spec"]["selector"]["matchLabels"], service["spec"]["selector"]):
        assert kit.selects(selector, deployment_pods)
        assert not kit.selects(selector, cronjob_pods)


def test_metrics_service_exposes_the_admin_port_for_prometheus() -> None:
    port = kit.admin_port()
    service = kit.one("Service")
    assert service["spec"]["type"] == "ClusterIP"
    (svc_port,) = service["spec"]["ports"]
    assert svc_port["port"] == port
    named = {p["name"]: p["containerPort"] for p in kit.container(kit.one("Deployment"))["ports"]}
    assert named[svc_port["targetPort"]] == port
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_cronjob_reconciles_every_minute_one_run_at_a_time() -> None:
    cronjob = kit.one("CronJob")
    spec = cronjob["spec"]
    assert spec["schedule"] == "* * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] <= 2
    assert job["activeDeadlineSeconds"] < 60
    args = kit.container(cronjob)["args"]
    assert "reconcile" in args
    assert "--force" not in args and "--dry-run" not in args
    assert_reads_the_configmap(cronjob, args)
    assert kit.pod_labels(cronjob)["azure.workload.identity/use"] == "true"
    assert kit.pod_spec(cronjob)["serviceAccountName"] == kit.one("ServiceAccount")["metadata"]["name"]


def test_cronjob_fails_at_once_on_exit_codes_a_retry_cannot_change() -> None:
    job = kit.one("CronJob")["spec"]["jobTemplate"]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    fail_now = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    codes = {c for r in fail_now for c in r["onExitCodes"]["values"]}
    # 2 bad config, 3 refused by safety, 4 degraded; 1 (failed, e.g. a transient Azure error) is retried.
    assert codes == {2, 3, 4}


def assert_reads_the_configmap(workload: kit.Obj, args: list[str]) -> None:
    """`-c PATH` names the ConfigMap's dnsctl.yaml as mounted in the container."""
    path = Path(args[args.index("-c") + 1])
    configmap = kit.one("ConfigMap")
    volumes = {
        v["name"]: v["configMap"]["name"] for v in kit.pod_spec(workload)["volumes"] if "configMap" in v
    }
    mounts = [
        m
        for m in kit.container(workload)["volumeMounts"]
        if volumes.get(m["name"]) == configmap["metadata"]["name"]
    ]
    assert len(mounts) == 1
    assert path.parent == Path(mounts[0]["mountPath"])
    assert path.name in configmap["data"]
