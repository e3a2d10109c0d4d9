package infratest

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// decodeStrict maps apiVersion/kind to the Kubernetes API type (or the
// Prometheus Operator's, for ServiceMonitor) and decodes with unknown and
// duplicate fields rejected: the check a server's strict field validation
// does, without a cluster or downloaded schemas.
func decodeStrict(doc []byte) (any, string, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return nil, "", err
	}
	gvk := meta.APIVersion + "/" + meta.Kind
	var obj any
	switch gvk {
	case "apps/v1/Deployment":
		obj = &appsv1.Deployment{}
	case "apps/v1/StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "v1/Service":
		obj = &corev1.Service{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1/ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1/PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "storage.k8s.io/v1/StorageClass":
		obj = &storagev1.StorageClass{}
	case "monitoring.coreos.com/v1/ServiceMonitor":
		obj = &monitoringv1.ServiceMonitor{}
	default:
		return nil, gvk, fmt.Errorf("no API type known for %s", gvk)
	}
	return obj, gvk, unmarshalStrict(doc, obj)
}

// unmarshalStrict decodes as the API server does: field names matched
// case-sensitively (encoding/json alone would accept "targetport"),
// unknown and duplicate fields rejected.
func unmarshalStrict(doc []byte, obj any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(js, obj)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func splitYAML(s string) [][]byte {
	var docs [][]byte
	for _, d := range strings.Split("\n"+s, "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d), "#")) == "" || !strings.Contains(d, "kind:") {
			continue
		}
		docs = append(docs, []byte(d))
	}
	return docs
}

func TestHelmChartsLintTemplateStrict(t *testing.T) {
	helm := needTool(t, "helm", "go install helm.sh/helm/v3/cmd/helm@v3.22.0")
	env := []string{"HELM_CACHE_HOME=" + t.TempDir(), "HELM_CONFIG_HOME=" + t.TempDir(), "HELM_DATA_HOME=" + t.TempDir()}
	for _, chart := range []string{"icon-edge", "icon-node"} {
		for _, values := range []string{"", "values-production.yaml"} {
			name := chart + "/default"
			if values != "" {
				name = chart + "/production"
			}
			t.Run(name, func(t *testing.T) {
				dir := infraDir(t, "helm", chart)
				args := []string{"--strict"}
				if values != "" {
					args = append(args, "-f", filepath.Join(dir, values))
				}
				run(t, dir, env, helm, append([]string{"lint", "."}, args...)...)
				out := run(t, dir, env, helm, append([]string{"template", chart, ".", "--namespace", "icon"}, args[1:]...)...)
				kinds := map[string]int{}
				objs := map[string]any{}
				for _, doc := range splitYAML(out) {
					obj, gvk, err := decodeStrict(doc)
					if err != nil {
						t.Errorf("%s: %v\n%s", gvk, err, doc)
						continue
					}
					kinds[gvk]++
					objs[gvk] = obj
				}
				checkChart(t, chart, values != "", kinds, objs)
			})
		}
	}
}

func checkChart(t *testing.T, chart string, production bool, kinds map[string]int, objs map[string]any) {
	t.Helper()
	want := map[string]int{}
	switch chart {
	case "icon-edge":
		want["apps/v1/Deployment"], want["v1/Service"], want["v1/ConfigMap"], want["policy/v1/PodDisruptionBudget"] = 1, 1, 1, 1
		if production {
			want["apps/v1/Deployment"], want["v1/Service"] = 2, 2 // + Redis
			want["autoscaling/v2/HorizontalPodAutoscaler"], want["monitoring.coreos.com/v1/ServiceMonitor"] = 1, 1
		}
		cm := objs["v1/ConfigMap"].(*corev1.ConfigMap)
		var cfg map[string]any
		if err := unmarshalStrict([]byte(cm.Data["edge.yaml"]), &cfg); err != nil {
			t.Errorf("edge.yaml: %v", err)
		}
		if cfg["listen"] != "0.0.0.0:9080" {
			t.Errorf("edge.yaml listen %v", cfg["listen"])
		}
		if _, ok := cfg["redis"]; ok != production {
			t.Errorf("edge.yaml redis section present=%v, want %v", ok, production)
		}
		if production {
			hpa := objs["autoscaling/v2/HorizontalPodAutoscaler"].(*autoscalingv2.HorizontalPodAutoscaler)
			m := hpa.Spec.Metrics[0]
			if m.Type != autoscalingv2.PodsMetricSourceType || m.Pods.Metric.Name != "icon_edge_requests_per_second" {
				t.Errorf("HPA metric %+v", m)
			}
		}
	case "icon-node":
		want["apps/v1/StatefulSet"], want["v1/Service"], want["policy/v1/PodDisruptionBudget"], want["v1/ServiceAccount"] = 1, 1, 1, 1
		if production {
			want["storage.k8s.io/v1/StorageClass"] = 1
		}
		ss := objs["apps/v1/StatefulSet"].(*appsv1.StatefulSet)
		pod := ss.Spec.Template.Spec
		if len(pod.InitContainers) != 1 || !strings.Contains(strings.Join(pod.InitContainers[0].Args, " "), "icon-node-agent restore --data /data") {
			t.Errorf("no restore init container: %+v", pod.InitContainers)
		}
		rp := pod.Containers[0].ReadinessProbe
		if rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/health" || rp.HTTPGet.Port.String() != "health" {
			t.Errorf("goloop readiness must be the agent's /health: %+v", rp)
		}
		if sc := ss.Spec.VolumeClaimTemplates[0].Spec.StorageClassName; sc == nil || *sc != "local-nvme" {
			t.Errorf("volume claim storage class %v", sc)
		}
		pdb := objs["policy/v1/PodDisruptionBudget"].(*policyv1.PodDisruptionBudget)
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PDB maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
		}
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s: %d rendered, want %d", k, kinds[k], n)
		}
	}
	for k := range kinds {
		if want[k] == 0 {
			t.Errorf("unexpected %s", k)
		}
	}
}

// Strict decoding must reject what a server with strict field validation
// rejects, or the test above proves nothing.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n",
		"apiVersion: v1\nkind: Service\nspec:\n  ports:\n    - port: 80\n      targetport: 8080\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nspec:\n  endpoint: []\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n",
	} {
		if _, _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
	if _, _, err := decodeStrict(bytes.TrimSpace([]byte("apiVersion: v1\nkind: Service\nspec:\n  ports:\n    - port: 80\n"))); err != nil {
		t.Errorf("rejected a valid Service: %v", err)
	}
}
