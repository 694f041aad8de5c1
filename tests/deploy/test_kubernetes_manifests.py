"""The Kubernetes manifests: valid against the Kubernetes schemas, and wired to each other correctly."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy import kit, kustomize

# The oldest Kubernetes minor the kit targets; strict mode also rejects unknown fields (typos).
KUBERNETES_VERSION = "1.30.0"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.mark.parametrize("path", kit.manifest_files(), ids=lambda p: str(p.relative_to(kit.KUBERNETES)))
def test_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    docs = kit.documents(path)
    assert docs, f"{path.name} holds no object"
    for doc in docs:
        # SchemaNotFoundError (an unknown kind or apiVersion) propagates and fails the test too.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", sorted(kit.OVERLAYS))
def test_every_rendered_object_validates_against_the_kubernetes_schema(overlay: str) -> None:
    for doc in kit.rendered(overlay):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_strict_schema_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(kit.one("Deployment"))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_manifest_belongs_to_exactly_one_kustomization() -> None:
    listed: list[Path] = []
    for root in (kit.BASE, *kit.OVERLAYS.values(), kit.NODE_MIRROR):
        resources = kit.kustomization(root)["resources"]
        assert len(resources) == len(set(resources))
        for entry in resources:
            path = (root / entry).resolve()
            assert path.exists(), f"{root.name}/kustomization.yaml lists missing {entry}"
            if path.is_file():
                listed.append(path)
        for overlay in kit.OVERLAYS.values():
            if root == overlay:
                assert (root / "../base").resolve() in [(root / e).resolve() for e in resources]
    assert len(listed) == len(set(listed))
    # The example Secret is never applied: it holds a placeholder, and a real token is not committed.
    assert set(kit.manifest_files()) - set(listed) == {kit.SECRET_EXAMPLE}


def test_the_controller_and_the_cronjob_are_separate_overlays() -> None:
    # They write the same record: neither overlay may carry the other's workload.
    controller = {o["kind"] for o in kit.rendered("controller")}
    cronjob = {o["kind"] for o in kit.rendered("cronjob")}
    assert {"Deployment", "PodDisruptionBudget", "Service"} <= controller and "CronJob" not in controller
    assert "CronJob" in cronjob and not {"Deployment", "PodDisruptionBudget", "Service"} & cronjob
    shared = {"Namespace", "ServiceAccount", "ConfigMap"}
    assert shared <= controller and shared <= cronjob


@pytest.mark.parametrize("overlay", sorted(kit.OVERLAYS))
def test_each_overlay_has_its_own_config_as_its_configmap(overlay: str) -> None:
    (configmap,) = [o for o in kit.rendered(overlay) if o["kind"] == "ConfigMap"]
    on_disk = (kit.OVERLAYS[overlay] / "dnsctl.yaml").read_text(encoding="utf-8")
    assert configmap["data"] == {"dnsctl.yaml": on_disk}
    assert on_disk == kit.OVERLAY_CONFIGS[overlay].read_text(encoding="utf-8")
    # Named after its content: a changed configuration rolls the pods (or reaches the next Job) by itself.
    assert configmap["metadata"]["name"].startswith("dnsctl-config-")
    (workload,) = [o for o in kit.rendered(overlay) if o["kind"] in ("Deployment", "CronJob")]
    args = kit.container(workload)["args"]
    assert_reads_the_configmap(workload, args, overlay)


def test_the_two_configmaps_differ_and_do_not_collide() -> None:
    names = {kit.one("ConfigMap", overlay=o)["metadata"]["name"] for o in kit.OVERLAYS}
    assert len(names) == 2


@pytest.mark.parametrize("overlay", sorted(kit.OVERLAYS))
def test_the_image_override_reaches_the_workload(overlay: str) -> None:
    (image,) = kit.kustomization(kit.OVERLAYS[overlay])["images"]
    (workload,) = [o for o in kit.rendered(overlay) if o["kind"] in ("Deployment", "CronJob")]
    assert kit.container(workload)["image"] == f"{image['newName']}:{image['newTag']}"
    raw = next(
        doc for path in kit.manifest_files() for doc in kit.documents(path) if doc["kind"] == workload["kind"]
    )
    assert kit.container(raw)["image"].split(":")[0] == image["name"]


@pytest.mark.parametrize("overlay", sorted(kit.OVERLAYS))
def test_every_object_lives_in_the_dnsctl_namespace(overlay: str) -> None:
    namespace = kit.one("Namespace")["metadata"]["name"]
    assert kit.kustomization(kit.OVERLAYS[overlay])["namespace"] == namespace
    for doc in kit.rendered(overlay):
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, doc["kind"]
    assert kit.one("Secret")["metadata"]["namespace"] == namespace


@pytest.mark.parametrize("overlay", sorted(kit.OVERLAYS))
def test_the_subset_renderer_gives_what_kubectl_kustomize_gives(overlay: str) -> None:
    if kustomize.kubectl() is None:
        pytest.skip("kubectl is not installed: the kit is rendered by the subset renderer alone")
    mine = kustomize.by_identity(kustomize.build(kit.OVERLAYS[overlay]))
    assert mine == kustomize.by_identity(list(kit.rendered(overlay)))


def test_the_subset_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(kustomize.Unsupported, match="commonLabels"):
        kustomize.build(tmp_path)


def test_deployment_runs_two_replicas_of_dnsctl_run_with_the_configmap() -> None:
    deployment = kit.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert kit.selects(deployment["spec"]["selector"]["matchLabels"], kit.pod_labels(deployment))
    args = kit.container(deployment)["args"]
    assert "run" in args
    assert_reads_the_configmap(deployment, args, "controller")


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
    assert_reads_the_configmap(cronjob, args, "cronjob")
    assert kit.pod_labels(cronjob)["azure.workload.identity/use"] == "true"
    assert kit.pod_spec(cronjob)["serviceAccountName"] == kit.one("ServiceAccount")["metadata"]["name"]


def test_cronjob_fails_at_once_on_exit_codes_a_retry_cannot_change() -> None:
    job = kit.one("CronJob")["spec"]["jobTemplate"]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    fail_now = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    codes = {c for r in fail_now for c in r["onExitCodes"]["values"]}
    # 2 bad config, 3 refused by safety, 4 degraded; 1 (failed, e.g. a transient Azure error) is retried.
    assert codes == {2, 3, 4}


def assert_reads_the_configmap(workload: kit.Obj, args: list[str], overlay: str) -> None:
    """`-c PATH` names the overlay's ConfigMap's dnsctl.yaml as mounted in the container."""
    path = Path(args[args.index("-c") + 1])
    configmap = kit.one("ConfigMap", overlay=overlay)
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
