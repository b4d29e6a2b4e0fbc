package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kitexsuite/suite/e2e/harness"
)

// helmVersion is the Helm release scripts/build-helm.sh builds from
// tools/helm.
const helmVersion = "v3.22.0"

// helmChart is the example chain's chart, relative to this package.
var helmChart = filepath.Join("..", "examples", "deploy", "helm", "kitexsuite-demo")

// helmBinary returns the Helm CLI. A missing binary fails the test: CI
// builds it (make tools), so a skip would only hide the chart's checks.
func helmBinary(t *testing.T) string {
	t.Helper()
	path, err := harness.HelmBinary()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// helmCLI runs one Helm binary with its config, cache and data directories
// in a temporary directory and no kubeconfig: lint and template never need
// a cluster, and nothing of the user's Helm setup leaks in.
type helmCLI struct {
	bin string
	env []string
}

func newHelmCLI(t *testing.T) *helmCLI {
	t.Helper()
	home := t.TempDir()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HELM_") || strings.HasPrefix(kv, "KUBECONFIG=")
	})
	env = append(env,
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	return &helmCLI{bin: helmBinary(t), env: env}
}

// run runs helm with args and returns its stdout and stderr.
func (h *helmCLI) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = h.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// template renders the chart for release "demo" in namespace ns with the
// --set values and returns its objects.
func (h *helmCLI) template(t *testing.T, ns string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "demo", helmChart, "--namespace", ns}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, stderr, err := h.run(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	objs, err := decodeManifests(out)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if len(objs) == 0 {
		t.Fatalf("helm %s rendered no objects", strings.Join(args, " "))
	}
	return objs
}

// decodeManifests splits a multi-document YAML stream into objects,
// skipping empty documents.
func decodeManifests(manifests string) ([]*unstructured.Unstructured, error) {
	dec := k8syaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode document %d: %w", len(objs)+1, err)
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("document %d lacks apiVersion, kind or metadata.name: %v", len(objs)+1, m)
		}
		objs = append(objs, obj)
	}
}

// objectKeys lists objs as "Kind/name", sorted.
func objectKeys(objs []*unstructured.Unstructured) []string {
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.GetKind() + "/" + o.GetName()
	}
	slices.Sort(keys)
	return keys
}

// findObject returns the object kind/name of objs, or nil.
func findObject(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// warningRecorder collects the API server's warnings (deprecated APIs,
// PodSecurity "warn" violations, ignored fields): the test accepts none.
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.warnings
	w.warnings = nil
	return out
}

// serverDryRun creates objects on a real kube-apiserver with dryRun=All
// and strict field validation: admission, defaulting and validation run in
// full, nothing is stored.
type serverDryRun struct {
	dyn      *dynamic.DynamicClient
	mapper   meta.RESTMapper
	warnings *warningRecorder
}

func newServerDryRun(t *testing.T, kube *harness.Kube) *serverDryRun {
	t.Helper()
	d := &serverDryRun{warnings: &warningRecorder{}}
	cfg := kube.AdminConfig()
	cfg.WarningHandler = d.warnings
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { utilnet.CloseIdleConnectionsFor(hc.Transport) })
	if d.dyn, err = dynamic.NewForConfigAndClient(cfg, hc); err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(kube.Clientset(t).Discovery())
	if err != nil {
		t.Fatalf("API discovery: %v", err)
	}
	d.mapper = restmapper.NewDiscoveryRESTMapper(groups)
	return d
}

// create dry-runs the creation of obj in namespace ns (the namespace the
// chart set, which must be ns) and returns what the server would store.
func (d *serverDryRun) create(ctx context.Context, ns string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	m, err := d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("no resource for %s on this API server: %w", gvk, err)
	}
	var ri dynamic.ResourceInterface = d.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if got := obj.GetNamespace(); got != ns {
			return nil, fmt.Errorf("metadata.namespace is %q, want the release namespace %q", got, ns)
		}
		ri = d.dyn.Resource(m.Resource).Namespace(ns)
	}
	return ri.Create(ctx, obj, metav1.CreateOptions{
		DryRun:          []string{metav1.DryRunAll},
		FieldValidation: metav1.FieldValidationStrict,
	})
}

// TestHelmChartLintsAndAppliesServerSide checks the example chain's Helm
// chart: helm lint --strict passes for every registry type; values that
// break values.schema.json are refused; serviceMonitor.enabled renders
// ServiceMonitors; and for each registry type every rendered object is
// accepted by a real kube-apiserver (server-side dry-run, strict field
// validation, no warnings) in a namespace enforcing the "restricted" Pod
// Security Standard, as are Pods made from the Deployments' templates.
// Last, helm install --dry-run=server against that API server renders
// NOTES.txt.
func TestHelmChartLintsAndAppliesServerSide(t *testing.T) {
	start := time.Now()
	helm := newHelmCLI(t)

	t.Run("lint", func(t *testing.T) {
		for _, set := range [][]string{
			nil,
			{"registry.type=etcd"},
			{"registry.type=consul"},
			{"metrics.serviceMonitor.enabled=true", "otel.endpoint=http://otel-collector.observability.svc:4317"},
		} {
			args := []string{"lint", "--strict", helmChart}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			out, stderr, err := helm.run(t, args...)
			if err != nil {
				t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm %s:\n%s", strings.Join(args, " "), out)
			}
		}
	})

	t.Run("schema rejects bad values", func(t *testing.T) {
		for _, c := range []struct{ name, values, want string }{
			{"unknown registry", "registry:\n  type: zookeeper\n", "/registry/type"},
			{"negative replicas", "orders:\n  replicas: -1\n", "/orders/replicas"},
			{"fractional replicas", "inventory:\n  replicas: 1.5\n", "/inventory/replicas"},
			{"replicas as a string", "gateway:\n  replicas: \"two\"\n", "/gateway/replicas"},
			{"misspelt key", "registery:\n  type: etcd\n", "registery"},
			{"no etcd endpoints", "registry:\n  type: etcd\n  etcd:\n    endpoints: []\n", "/registry/etcd/endpoints"},
			{"OTLP endpoint without scheme", "otel:\n  endpoint: collector:4317\n", "/otel/endpoint"},
			{"unknown sampler", "otel:\n  sampler: sometimes\n", "/otel/sampler"},
			{"pull policy", "image:\n  pullPolicy: Sometimes\n", "/image/pullPolicy"},
		} {
			file := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(file, []byte(c.values), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"template", "demo", helmChart, "-f", file},
				{"lint", "--strict", helmChart, "-f", file},
			} {
				out, stderr, err := helm.run(t, args...)
				if err == nil {
					t.Errorf("%s: helm %s accepted %q:\n%s", c.name, args[0], c.values, out)
					continue
				}
				if all := out + stderr; !strings.Contains(all, "values don't meet the specifications of the schema") || !strings.Contains(all, c.want) {
					t.Errorf("%s: helm %s failed, but not on the schema at %s:\n%s", c.name, args[0], c.want, all)
				}
			}
		}
	})

	t.Run("serviceMonitor", func(t *testing.T) {
		objs := helm.template(t, "shop", "metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom")
		for _, name := range []string{"gateway", "orders", "inventory"} {
			sm := findObject(objs, "ServiceMonitor", name)
			if sm == nil {
				t.Fatalf("no ServiceMonitor %s among %v", name, objectKeys(objs))
			}
			if sm.GetAPIVersion() != "monitoring.coreos.com/v1" || sm.GetNamespace() != "shop" || sm.GetLabels()["release"] != "prom" {
				t.Errorf("ServiceMonitor %s: apiVersion %s, namespace %s, labels %v", name, sm.GetAPIVersion(), sm.GetNamespace(), sm.GetLabels())
			}
			sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			if sel["app.kubernetes.io/name"] != name || sel["app.kubernetes.io/instance"] != "demo" {
				t.Errorf("ServiceMonitor %s selects %v", name, sel)
			}
			eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" || eps[0].(map[string]any)["path"] != "/metrics" {
				t.Errorf("ServiceMonitor %s endpoints %v, want port metrics, path /metrics", name, eps)
			}
		}
		if off := helm.template(t, "shop"); slices.ContainsFunc(off, func(o *unstructured.Unstructured) bool { return o.GetKind() == "ServiceMonitor" }) {
			t.Errorf("ServiceMonitor rendered though metrics.serviceMonitor.enabled defaults to false")
		}
	})
	if t.Failed() {
		return // the chart is broken; the API server would only repeat it
	}

	kubeStart := time.Now()
	kube := harness.StartKube(t)
	cs := kube.Clientset(t)
	dry := newServerDryRun(t, kube)
	t.Logf("control plane up in %v", time.Since(kubeStart).Round(time.Millisecond))

	// env: what the containers' environment must hold; "-" means unset.
	for _, c := range []struct {
		name string
		k8s  bool
		set  []string
		env  map[string]string
	}{
		{"k8s", true, nil, map[string]string{
			"KITEXSUITE_REGISTRY": "k8s", "KITEXSUITE_ETCD_ENDPOINTS": "-", "CONSUL_HTTP_ADDR": "-",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "-", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.0",
		}},
		{"etcd", false, []string{"registry.type=etcd", "registry.etcd.endpoints={etcd-0.etcd:2379,etcd-1.etcd:2379}"}, map[string]string{
			"KITEXSUITE_REGISTRY": "etcd", "KITEXSUITE_ETCD_ENDPOINTS": "etcd-0.etcd:2379,etcd-1.etcd:2379", "CONSUL_HTTP_ADDR": "-",
		}},
		{"consul", false, []string{"registry.type=consul"}, map[string]string{
			"KITEXSUITE_REGISTRY": "consul", "KITEXSUITE_ETCD_ENDPOINTS": "-", "CONSUL_HTTP_ADDR": "consul-server.consul.svc:8500",
		}},
		{"k8s with every option", true, []string{
			"otel.endpoint=http://otel-collector.observability.svc:4317", "otel.sampler=always_on", "otel.samplerArg=",
			"metrics.annotations=false", "gateway.replicas=0", "image.tag=1.2.3", "orders.image.tag=1.2.4",
			"imagePullSecrets[0].name=ghcr", "podAnnotations.team=shop", "podLabels.tier=demo",
			"nodeSelector.kubernetes\\.io/os=linux", "tolerations[0].key=dedicated", "tolerations[0].operator=Exists",
		}, map[string]string{
			"KITEXSUITE_REGISTRY": "k8s", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability.svc:4317",
			"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "-",
		}},
	} {
		t.Run("apply/"+c.name, func(t *testing.T) {
			ns := "helm-" + strings.NewReplacer(" ", "-").Replace(c.name)
			kube.CreateNamespace(t, ns)
			restrictPods(t, cs, ns)
			objs := helm.template(t, ns, c.set...)
			checkChartObjects(t, objs, c.k8s, c.env)

			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for _, obj := range objs {
				key := obj.GetKind() + "/" + obj.GetName()
				got, err := dry.create(ctx, ns, obj)
				if err != nil {
					t.Errorf("the API server rejected %s: %v", key, err)
					continue
				}
				if got.GetUID() == "" || got.GetKind() != obj.GetKind() {
					t.Errorf("dry-run of %s returned %s %s (uid %q)", key, got.GetKind(), got.GetName(), got.GetUID())
				}
				if w := dry.warnings.take(); len(w) > 0 {
					t.Errorf("the API server warned about %s: %q", key, w)
				}
			}
			dryRunPods(t, ctx, cs, ns, objs, dry.warnings)
			if !t.Failed() {
				t.Logf("all %d objects accepted: %v", len(objs), objectKeys(objs))
			}
		})
	}
	// Helm's own install path against the same API server: --dry-run=server
	// validates the manifests against the server's OpenAPI and renders
	// NOTES.txt, which helm template leaves out.
	t.Run("helm install --dry-run=server", func(t *testing.T) {
		const ns = "helm-install"
		kube.CreateNamespace(t, ns)
		withKube := &helmCLI{bin: helm.bin, env: append(slices.Clone(helm.env), "KUBECONFIG="+kube.Kubeconfig())}
		chart := helmChart
		// Chart.yaml's kubeVersion (>= 1.21) is checked against the
		// server's /version. A kube-apiserver built without Kubernetes'
		// version ldflags (go build alone) reports v0.0.0-master, which no
		// constraint admits: install a copy without kubeVersion then.
		sv, err := cs.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sv.GitVersion, "v1.") {
			chart = filepath.Join(t.TempDir(), "kitexsuite-demo")
			if err := os.CopyFS(chart, os.DirFS(helmChart)); err != nil {
				t.Fatal(err)
			}
			meta, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			lines := slices.DeleteFunc(strings.Split(string(meta), "\n"), func(l string) bool { return strings.HasPrefix(l, "kubeVersion:") })
			if err := os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("kube-apiserver reports version %s: installing a copy of the chart without kubeVersion", sv.GitVersion)
		}
		for _, c := range []struct {
			set  []string
			want []string
		}{
			{nil, []string{"deployed in namespace helm-install", "orders     Kitex Thrift over TTHeader, :8888   replicas 2", "Service discovery: k8s (EndpointSlices;", "port-forward svc/gateway 8080:8080", "otel.endpoint is empty"}},
			{[]string{"registry.type=etcd", "otel.endpoint=http://otel:4317"}, []string{"Service discovery: etcd (etcd at etcd.etcd.svc:2379)", "exported over OTLP to http://otel:4317"}},
			{[]string{"registry.type=consul", "metrics.serviceMonitor.enabled=false"}, []string{"Service discovery: consul (Consul at consul-server.consul.svc:8500)"}},
		} {
			args := []string{"install", "demo", chart, "--namespace", ns, "--dry-run=server"}
			for _, s := range c.set {
				args = append(args, "--set", s)
			}
			out, stderr, err := withKube.run(t, args...)
			if err != nil {
				t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
			}
			i := strings.Index(out, "NOTES:")
			if i < 0 {
				t.Fatalf("helm %s printed no NOTES:\n%s", strings.Join(args, " "), out)
			}
			notes := out[i:]
			for _, w := range c.want {
				if !strings.Contains(notes, w) {
					t.Errorf("helm %s: NOTES lack %q:\n%s", strings.Join(args, " "), w, notes)
				}
			}
		}
	})
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// restrictPods makes namespace ns enforce (and warn about) the
// "restricted" Pod Security Standard.
func restrictPods(t *testing.T, cs *kubernetes.Clientset, ns string) {
	t.Helper()
	patch := `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/warn":"restricted"}}}`
	if _, err := cs.CoreV1().Namespaces().Patch(t.Context(), ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// dryRunPods creates the chart's ServiceAccounts for real (Pod admission
// requires a Pod's ServiceAccount to exist) and dry-runs a Pod from each
// Deployment's template: PodSecurity enforces on Pods only.
func dryRunPods(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns string, objs []*unstructured.Unstructured, warnings *warningRecorder) {
	t.Helper()
	for _, obj := range objs {
		if obj.GetKind() != "ServiceAccount" {
			continue
		}
		var sa corev1.ServiceAccount
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &sa); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &sa, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ServiceAccount %s: %v", sa.Name, err)
		}
	}
	for _, obj := range objs {
		if obj.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-dry-run", Labels: d.Spec.Template.Labels, Annotations: d.Spec.Template.Annotations},
			Spec:       d.Spec.Template.Spec,
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("the API server rejected a Pod of Deployment %s: %v", d.Name, err)
		}
	}
	if w := warnings.take(); len(w) > 0 {
		t.Errorf("the API server warned: %q", w)
	}
}

// checkChartObjects checks what the chart rendered before the API server
// sees it: the three services' objects, and with the Kubernetes registry
// the RBAC of registry/k8s/rbac and the readiness gate on the servers;
// every container's environment holds wantEnv ("-": unset).
func checkChartObjects(t *testing.T, objs []*unstructured.Unstructured, k8s bool, wantEnv map[string]string) {
	t.Helper()
	want := []string{}
	for _, s := range []string{"gateway", "orders", "inventory"} {
		want = append(want, "Deployment/"+s, "Service/"+s, "ServiceAccount/"+s)
	}
	if k8s {
		want = append(want, "Role/kitexsuite-resolver", "RoleBinding/kitexsuite-resolver", "Role/kitexsuite-registry", "RoleBinding/kitexsuite-registry")
	}
	slices.Sort(want)
	if got := objectKeys(objs); !slices.Equal(got, want) {
		t.Fatalf("rendered %v, want %v", got, want)
	}
	for _, obj := range objs {
		labels := obj.GetLabels()
		if labels["app.kubernetes.io/part-of"] != "kitexsuite" || labels["app.kubernetes.io/managed-by"] != "Helm" || labels["app.kubernetes.io/instance"] != "demo" {
			t.Errorf("%s/%s labels %v", obj.GetKind(), obj.GetName(), labels)
		}
		if obj.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
			t.Fatal(err)
		}
		spec := d.Spec.Template.Spec
		gated := slices.ContainsFunc(spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g.ConditionType == "kitexsuite.io/serving" })
		if wantGate := k8s && d.Name != "gateway"; gated != wantGate {
			t.Errorf("Deployment %s: readiness gate %v, want %v", d.Name, gated, wantGate)
		}
		env := map[string]string{}
		for _, e := range spec.Containers[0].Env {
			env[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				env[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
			}
		}
		if env["OTEL_SERVICE_NAME"] != d.Name || env["POD_NAME"] != "fieldRef:metadata.name" || env["POD_NAMESPACE"] != "fieldRef:metadata.namespace" || env["KITEXSUITE_REGISTRY"] == "" {
			t.Errorf("Deployment %s env %v", d.Name, env)
		}
		for name, want := range wantEnv {
			if got, ok := env[name]; want == "-" && ok || want != "-" && got != want {
				t.Errorf("Deployment %s: %s=%q (set %v), want %q", d.Name, name, got, ok, want)
			}
		}
	}
	rb := findObject(objs, "RoleBinding", "kitexsuite-registry")
	if rb == nil {
		return
	}
	var subjects []string
	subs, _, _ := unstructured.NestedSlice(rb.Object, "subjects")
	for _, s := range subs {
		subjects = append(subjects, s.(map[string]any)["name"].(string))
	}
	if !slices.Equal(subjects, []string{"orders", "inventory"}) {
		t.Errorf("RoleBinding kitexsuite-registry binds %v, want the servers orders and inventory", subjects)
	}
	rb = findObject(objs, "RoleBinding", "kitexsuite-resolver")
	subjects = nil
	subs, _, _ = unstructured.NestedSlice(rb.Object, "subjects")
	for _, s := range subs {
		subjects = append(subjects, s.(map[string]any)["name"].(string))
	}
	if !slices.Equal(subjects, []string{"gateway", "orders"}) {
		t.Errorf("RoleBinding kitexsuite-resolver binds %v, want the resolvers gateway and orders", subjects)
	}
}
