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
	return h.render(t, "demo", ns, "", set...)
}

// render renders the chart for release in namespace ns with a values
// file holding values (none if empty) and the --set values, and returns
// its objects.
func (h *helmCLI) render(t *testing.T, release, ns, values string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", release, helmChart, "--namespace", ns}
	if values != "" {
		file := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(file, []byte(values), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-f", file)
	}
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
	ri, err := d.resource(ns, obj)
	if err != nil {
		return nil, err
	}
	return ri.Create(ctx, obj, metav1.CreateOptions{
		DryRun:          []string{metav1.DryRunAll},
		FieldValidation: metav1.FieldValidationStrict,
	})
}

// createForReal creates obj in namespace ns, stored.
func (d *serverDryRun) createForReal(ctx context.Context, ns string, obj *unstructured.Unstructured) error {
	ri, err := d.resource(ns, obj)
	if err != nil {
		return err
	}
	_, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	return err
}

// resource is the client of obj's resource: in namespace ns (which must
// be the object's) when it is namespaced.
func (d *serverDryRun) resource(ns string, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("no resource for %s on this API server: %w", gvk, err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return d.dyn.Resource(m.Resource), nil
	}
	if got := obj.GetNamespace(); got != ns {
		return nil, fmt.Errorf("metadata.namespace is %q, want the release namespace %q", got, ns)
	}
	return d.dyn.Resource(m.Resource).Namespace(ns), nil
}

// TestHelmChartLintsAndAppliesServerSide checks the example chain's Helm
// chart: helm lint --strict passes for every registry type; values that
// break values.schema.json are refused, and so are a grace period below
// the drain it must cover and a disruption budget that allows no
// eviction; serviceMonitor.enabled renders ServiceMonitors; the release's
// name is in every name that must be unique per release. For each
// registry type (and TLS, auth, every option) the rendered objects are
// checked exactly — PDBs, spread constraints, grace periods, probes, the
// registry's environment and Secret volumes, GOMEMLIMIT's inputs, RBAC
// and the own-pod status policy — and every one is accepted by a real
// kube-apiserver (server-side dry-run, strict field validation, no
// warnings) in a namespace enforcing the "restricted" Pod Security
// Standard, as are Pods made from the Deployments' templates. The
// own-pod status policy is then installed for real and must let a server
// patch its own pod's status and no other. Last, helm install
// --dry-run=server against that API server renders NOTES.txt.
func TestHelmChartLintsAndAppliesServerSide(t *testing.T) {
	start := time.Now()
	helm := newHelmCLI(t)

	t.Run("lint", func(t *testing.T) {
		for _, set := range [][]string{
			nil,
			{"registry.type=etcd"},
			{"registry.type=etcd", "registry.etcd.tls.enabled=true", "registry.etcd.tls.secretName=etcd-tls", "registry.etcd.tls.certKey=tls.crt", "registry.etcd.tls.keyKey=tls.key", "registry.etcd.auth.secretName=etcd-auth"},
			{"registry.type=consul"},
			{"registry.type=consul", "registry.consul.acl.secretName=consul-acl", "registry.consul.tls.enabled=true", "registry.consul.tls.secretName=consul-ca"},
			{"registry.type=consul", "registry.consul.nodeLocalAgent=false"},
			{"metrics.serviceMonitor.enabled=true", "otel.endpoint=http://otel-collector.observability.svc:4317"},
			{"terminationGracePeriodSeconds=120", "podDisruptionBudget.force=true", "rbac.ownPodStatusPolicy=true"},
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
			{"etcd TLS without a Secret", "registry:\n  type: etcd\n  etcd:\n    tls:\n      enabled: true\n", "/registry/etcd/tls/secretName"},
			{"etcd auth without a password key", "registry:\n  etcd:\n    auth:\n      secretName: etcd-auth\n      passwordKey: \"\"\n", "/registry/etcd/auth/passwordKey"},
			{"Consul client cert without key", "registry:\n  consul:\n    tls:\n      certKey: tls.crt\n", "/registry/consul/tls/keyKey"},
			{"Consul ACL Secret without key", "registry:\n  consul:\n    acl:\n      secretName: acl\n      tokenKey: \"\"\n", "/registry/consul/acl/tokenKey"},
			{"Consul agent port", "registry:\n  consul:\n    agentPort: 0\n", "/registry/consul/agentPort"},
			{"misspelt Consul key", "registry:\n  consul:\n    nodeLocal: true\n", "nodeLocal"},
			{"grace period as a string", "terminationGracePeriodSeconds: \"45\"\n", "/terminationGracePeriodSeconds"},
			{"negative drain delay", "shutdown:\n  drainDelaySeconds: -1\n", "/shutdown/drainDelaySeconds"},
			{"GOMEMLIMIT above the limit", "goMemLimitPercent: 150\n", "/goMemLimitPercent"},
			{"misspelt PDB key", "podDisruptionBudget:\n  maxUnavaliable: 1\n", "maxUnavaliable"},
			{"PDB minAvailable not a number or percent", "orders:\n  podDisruptionBudget:\n    minAvailable: half\n", "/orders/podDisruptionBudget/minAvailable"},
			{"own-pod status policy mode", "rbac:\n  ownPodStatusPolicy: sometimes\n", "/rbac/ownPodStatusPolicy"},
			{"spread without a topology key", "topologySpreadConstraints:\n  - maxSkew: 1\n    whenUnsatisfiable: ScheduleAnyway\n", "/topologySpreadConstraints/0"},
			{"env entry without a name", "gateway:\n  extraEnv:\n    - value: x\n", "/gateway/extraEnv/0"},
			{"volume mount without a path", "volumeMounts:\n  - name: tmp\n", "/volumeMounts/0"},
			{"misspelt service key", "orders:\n  serviceAcount: {}\n", "serviceAcount"},
			{"ServiceAccount annotation not a string", "serviceAccount:\n  annotations:\n    replicas: 1\n", "/serviceAccount/annotations/replicas"},
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

	t.Run("templates refuse unsafe values", func(t *testing.T) {
		for _, c := range []struct {
			name string
			set  []string
			want string
		}{
			{"grace period below the k8s drain", []string{"terminationGracePeriodSeconds=41"},
				"terminationGracePeriodSeconds 41 is below what orders may need to stop on registry k8s: deregistration 30 s at worst + drainDelaySeconds 2 + exitWaitSeconds 5 + 5 s margin = 42 s"},
			{"grace period below the Consul drain", []string{"registry.type=consul", "terminationGracePeriodSeconds=17"},
				"terminationGracePeriodSeconds 17 is below what orders may need to stop on registry consul: deregistration 6 s at worst + drainDelaySeconds 2 + exitWaitSeconds 5 + 5 s margin = 18 s"},
			{"grace period below a longer exit wait", []string{"registry.type=etcd", "shutdown.exitWaitSeconds=20", "terminationGracePeriodSeconds=26"},
				"terminationGracePeriodSeconds 26 is below what gateway may need to stop on registry etcd: deregistration 0 s at worst + drainDelaySeconds 2 + exitWaitSeconds 20 + 5 s margin = 27 s"},
			{"minAvailable of every replica", []string{"orders.podDisruptionBudget.minAvailable=2"},
				"podDisruptionBudget of orders: minAvailable 2 with 2 replicas allows no eviction"},
			{"minAvailable 100%", []string{"podDisruptionBudget.minAvailable=100%"},
				"podDisruptionBudget of orders: minAvailable 100% with 2 replicas allows no eviction"},
			{"maxUnavailable 0", []string{"podDisruptionBudget.maxUnavailable=0"},
				"podDisruptionBudget of orders: maxUnavailable 0 allows no eviction"},
		} {
			args := []string{"template", "demo", helmChart}
			for _, s := range c.set {
				args = append(args, "--set", s)
			}
			out, stderr, err := helm.run(t, args...)
			if err == nil {
				t.Errorf("%s: helm template accepted %v:\n%s", c.name, c.set, out)
				continue
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("%s: helm template failed, but not with %q:\n%s", c.name, c.want, stderr)
			}
		}
		// At the minimum exactly, the grace period is accepted.
		for _, d := range deployments(t, helm.template(t, "shop", "terminationGracePeriodSeconds=42")) {
			if got := d.Spec.Template.Spec.TerminationGracePeriodSeconds; got == nil || *got != 42 {
				t.Errorf("Deployment %s: terminationGracePeriodSeconds %v, want 42", d.Name, got)
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

	// Two releases in one cluster: the RBAC objects (by release) and the
	// cluster-scoped policy (by release and namespace) must not collide.
	t.Run("names per release", func(t *testing.T) {
		a := objectKeys(helm.render(t, "blue", "shop", ""))
		b := objectKeys(helm.render(t, "green", "shop", ""))
		c := objectKeys(helm.render(t, "blue", "store", ""))
		for _, want := range []string{"Role/blue-kitexsuite-resolver", "Role/blue-kitexsuite-registry", "RoleBinding/blue-kitexsuite-resolver",
			"RoleBinding/blue-kitexsuite-registry", "ValidatingAdmissionPolicy/blue-shop-kitexsuite-own-pod-status", "ValidatingAdmissionPolicyBinding/blue-shop-kitexsuite-own-pod-status"} {
			if !slices.Contains(a, want) {
				t.Errorf("release blue in shop lacks %s: %v", want, a)
			}
			if slices.Contains(b, want) {
				t.Errorf("release green renders blue's %s", want)
			}
			if strings.HasPrefix(want, "Validating") && slices.Contains(c, want) {
				t.Errorf("release blue in namespace store renders shop's %s", want)
			}
		}
		long := strings.Repeat("x", 53) // Helm's longest release name
		for _, k := range objectKeys(helm.render(t, long, "shop", "")) {
			if _, name, _ := strings.Cut(k, "/"); strings.HasPrefix(k, "Role") && (len(name) > 63 || !strings.HasSuffix(name, "-kitexsuite-resolver") && !strings.HasSuffix(name, "-kitexsuite-registry")) {
				t.Errorf("with a %d-character release: %s", len(long), k)
			}
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

	for _, c := range chartCases() {
		t.Run("apply/"+c.name, func(t *testing.T) {
			ns := "helm-" + strings.NewReplacer(" ", "-").Replace(strings.ToLower(c.name))
			kube.CreateNamespace(t, ns)
			restrictPods(t, cs, ns)
			objs := helm.render(t, "demo", ns, c.values, c.set...)
			checkChartObjects(t, ns, objs, c)

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

	t.Run("own-pod status policy enforced", func(t *testing.T) {
		checkOwnPodStatusPolicy(t, kube, cs, dry, helm)
	})

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
			{nil, []string{"deployed in namespace helm-install", "orders     Kitex Thrift over TTHeader, :8888   replicas 2", "Service discovery: k8s (EndpointSlices;",
				// The API server serves the v1 ValidatingAdmissionPolicy, so auto renders it.
				"its own pod's status (ValidatingAdmissionPolicy demo-helm-install-kitexsuite-own-pod-status)",
				"terminationGracePeriodSeconds gateway 12 s, orders 42 s, inventory 42 s", "EndpointSlice wait at most 30 s",
				"port-forward svc/gateway 8080:8080", "otel.endpoint is empty"}},
			{[]string{"registry.type=etcd", "otel.endpoint=http://otel:4317", "registry.etcd.auth.secretName=etcd-auth"}, []string{"Service discovery: etcd (etcd at etcd.etcd.svc:2379, auth)", "exported over OTLP to http://otel:4317",
				"terminationGracePeriodSeconds gateway 12 s, orders 15 s, inventory 15 s"}},
			{[]string{"registry.type=consul", "metrics.serviceMonitor.enabled=false"}, []string{"Service discovery: consul (the Consul agent of each pod's node, $(HOST_IP):8500)",
				"terminationGracePeriodSeconds gateway 12 s, orders 18 s, inventory 18 s"}},
			{[]string{"registry.type=consul", "registry.consul.nodeLocalAgent=false", "registry.consul.tls.enabled=true", "registry.consul.tls.secretName=ca"}, []string{"Service discovery: consul (Consul at consul-server.consul.svc:8500, TLS)"}},
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
	for _, d := range deployments(t, objs) {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, podOf(d, d.Name+"-dry-run"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("the API server rejected a Pod of Deployment %s: %v", d.Name, err)
		}
	}
	if w := warnings.take(); len(w) > 0 {
		t.Errorf("the API server warned: %q", w)
	}
}

// podOf is a Pod named name made from Deployment d's template.
func podOf(d *appsv1.Deployment, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: d.Spec.Template.Labels, Annotations: d.Spec.Template.Annotations},
		Spec:       *d.Spec.Template.Spec.DeepCopy(),
	}
}

// deployments converts the Deployments among objs.
func deployments(t *testing.T, objs []*unstructured.Unstructured) []*appsv1.Deployment {
	t.Helper()
	var out []*appsv1.Deployment
	for _, obj := range objs {
		if obj.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}
