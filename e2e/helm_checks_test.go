package e2e

// What the apply tests of TestHelmChartLintsAndAppliesServerSide expect of
// the chart's rendered objects, case by case, exactly.

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// chartCase is one rendering of the chart that the apply tests check
// exactly and dry-run on the API server.
type chartCase struct {
	name    string
	k8s     bool // the Kubernetes registry
	values  string
	set     []string
	objects []string // beyond each service's Deployment, Service and ServiceAccount; "{ns}" is the namespace
	// env every container holds ("-": unset; "{name}" is the service),
	// and per service over it.
	env    map[string]string
	svcEnv map[string]map[string]string
	grace  map[string]int64  // terminationGracePeriodSeconds by service
	pdb    map[string]string // the budget by service: "maxUnavailable=1", "minAvailable=2"
	// spread is a service's topologySpreadConstraints; nil: defaultSpread.
	spread func(service string) []corev1.TopologySpreadConstraint
	check  func(t *testing.T, objs []*unstructured.Unstructured, deps map[string]*appsv1.Deployment)
}

// baseEnv is the environment of every container with the chart's
// defaults on registry, with over applied.
func baseEnv(registry string, over map[string]string) map[string]string {
	env := map[string]string{
		"KITEXSUITE_REGISTRY": registry, "OTEL_EXPORTER_OTLP_ENDPOINT": "-", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.0",
		"KITEXSUITE_DRAIN": "2s", "KITEXSUITE_EXIT_WAIT": "5s", "KITEXSUITE_DRAIN_TIMEOUT": "-",
		// GOMEMLIMIT's inputs: the limit in bytes from the downward API and
		// the share of it the binary sets; GOMEMLIMIT itself is the binary's.
		"KITEXSUITE_MEMORY_LIMIT": "resourceFieldRef:{name}/limits.memory/1", "KITEXSUITE_GOMEMLIMIT_PERCENT": "90", "GOMEMLIMIT": "-",
		"KITEXSUITE_ETCD_ENDPOINTS": "-", "KITEXSUITE_ETCD_CACERT": "-", "KITEXSUITE_ETCD_CERT": "-", "KITEXSUITE_ETCD_KEY": "-",
		"KITEXSUITE_ETCD_USERNAME": "-", "KITEXSUITE_ETCD_PASSWORD": "-",
		"HOST_IP": "-", "CONSUL_HTTP_ADDR": "-", "CONSUL_HTTP_TOKEN": "-", "CONSUL_HTTP_SSL": "-",
		"CONSUL_CACERT": "-", "CONSUL_CLIENT_CERT": "-", "CONSUL_CLIENT_KEY": "-", "CONSUL_TLS_SERVER_NAME": "-",
	}
	maps.Copy(env, over)
	return env
}

// k8sObjects are the objects the Kubernetes registry adds with the
// defaults: RBAC named by release, the own-pod status policy.
var k8sObjects = []string{
	"Role/demo-kitexsuite-resolver", "RoleBinding/demo-kitexsuite-resolver", "Role/demo-kitexsuite-registry", "RoleBinding/demo-kitexsuite-registry",
	"ValidatingAdmissionPolicy/demo-{ns}-kitexsuite-own-pod-status", "ValidatingAdmissionPolicyBinding/demo-{ns}-kitexsuite-own-pod-status",
}

// defaultPDBs: a budget for the services with two replicas or more.
var (
	defaultPDBObjects = []string{"PodDisruptionBudget/orders", "PodDisruptionBudget/inventory"}
	defaultPDBs       = map[string]string{"orders": "maxUnavailable=1", "inventory": "maxUnavailable=1"}
)

func chartCases() []chartCase {
	k8sServerEnv := map[string]map[string]string{"orders": {"KITEXSUITE_DRAIN_TIMEOUT": "30s"}, "inventory": {"KITEXSUITE_DRAIN_TIMEOUT": "30s"}}
	return []chartCase{
		{
			name: "k8s", k8s: true,
			objects: append(slices.Clone(defaultPDBObjects), k8sObjects...),
			env:     baseEnv("k8s", nil), svcEnv: k8sServerEnv,
			grace: map[string]int64{"gateway": 12, "orders": 42, "inventory": 42}, pdb: defaultPDBs,
		},
		{
			name: "etcd",
			values: `registry:
  type: etcd
  etcd:
    endpoints: [etcd-0.etcd:2379, etcd-1.etcd:2379]
    tls: {enabled: true, secretName: etcd-client-tls, caKey: ca.pem, certKey: client.pem, keyKey: client-key.pem}
    auth: {secretName: etcd-auth, usernameKey: user, passwordKey: pass}
`,
			objects: defaultPDBObjects,
			env: baseEnv("etcd", map[string]string{
				"KITEXSUITE_ETCD_ENDPOINTS": "etcd-0.etcd:2379,etcd-1.etcd:2379",
				"KITEXSUITE_ETCD_CACERT":    "/etc/kitexsuite/etcd-tls/ca.crt", "KITEXSUITE_ETCD_CERT": "/etc/kitexsuite/etcd-tls/tls.crt", "KITEXSUITE_ETCD_KEY": "/etc/kitexsuite/etcd-tls/tls.key",
				"KITEXSUITE_ETCD_USERNAME": "secretKeyRef:etcd-auth/user", "KITEXSUITE_ETCD_PASSWORD": "secretKeyRef:etcd-auth/pass",
			}),
			grace: map[string]int64{"gateway": 12, "orders": 15, "inventory": 15}, pdb: defaultPDBs,
			check: func(t *testing.T, _ []*unstructured.Unstructured, deps map[string]*appsv1.Deployment) {
				checkSecretVolume(t, deps, "etcd-tls", "etcd-client-tls", "/etc/kitexsuite/etcd-tls",
					[]corev1.KeyToPath{{Key: "ca.pem", Path: "ca.crt"}, {Key: "client.pem", Path: "tls.crt"}, {Key: "client-key.pem", Path: "tls.key"}})
			},
		},
		{
			// The default: each pod's node-local agent, its address from the
			// downward API.
			name: "consul", set: []string{"registry.type=consul", "registry.consul.acl.secretName=consul-acl"},
			objects: defaultPDBObjects,
			env: baseEnv("consul", map[string]string{
				"HOST_IP": "fieldRef:status.hostIP", "CONSUL_HTTP_ADDR": "$(HOST_IP):8500", "CONSUL_HTTP_TOKEN": "secretKeyRef:consul-acl/token",
			}),
			grace: map[string]int64{"gateway": 12, "orders": 18, "inventory": 18}, pdb: defaultPDBs,
			check: func(t *testing.T, _ []*unstructured.Unstructured, deps map[string]*appsv1.Deployment) {
				for name, d := range deps {
					if v := d.Spec.Template.Spec.Volumes; len(v) != 0 {
						t.Errorf("Deployment %s: volumes %v, want none", name, v)
					}
				}
			},
		},
		{
			name: "consul agent address with TLS",
			values: `registry:
  type: consul
  consul:
    nodeLocalAgent: false
    address: https://consul.consul.svc:8501
    tls: {enabled: true, secretName: consul-ca, certKey: tls.crt, keyKey: tls.key, serverName: server.dc1.consul}
`,
			objects: defaultPDBObjects,
			env: baseEnv("consul", map[string]string{
				"CONSUL_HTTP_ADDR": "https://consul.consul.svc:8501", "CONSUL_HTTP_SSL": "true",
				"CONSUL_CACERT": "/etc/kitexsuite/consul-tls/ca.crt", "CONSUL_CLIENT_CERT": "/etc/kitexsuite/consul-tls/tls.crt",
				"CONSUL_CLIENT_KEY": "/etc/kitexsuite/consul-tls/tls.key", "CONSUL_TLS_SERVER_NAME": "server.dc1.consul",
			}),
			grace: map[string]int64{"gateway": 12, "orders": 18, "inventory": 18}, pdb: defaultPDBs,
			check: func(t *testing.T, _ []*unstructured.Unstructured, deps map[string]*appsv1.Deployment) {
				checkSecretVolume(t, deps, "consul-tls", "consul-ca", "/etc/kitexsuite/consul-tls",
					[]corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}, {Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}})
			},
		},
		everyOptionCase(),
	}
}

// everyOptionCase sets every value the chart has, globally and per
// service, on the Kubernetes registry.
func everyOptionCase() chartCase {
	return chartCase{
		name: "k8s with every option", k8s: true,
		values: `otel: {endpoint: "http://otel-collector.observability.svc:4317", sampler: always_on, samplerArg: ""}
metrics: {annotations: false}
image: {tag: 1.2.3}
imagePullSecrets: [{name: ghcr}]
podAnnotations: {team: shop}
podLabels: {tier: demo}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Exists}]
terminationGracePeriodSeconds: 60
shutdown: {drainDelaySeconds: 3, drainTimeoutSeconds: 20, exitWaitSeconds: 8}
goMemLimitPercent: 80
podDisruptionBudget: {force: true}
rbac: {ownPodStatusPolicy: false}
extraEnv: [{name: LOG_LEVEL, value: debug}]
envFrom: [{configMapRef: {name: shop-config, optional: true}}]
volumes: [{name: tmp, emptyDir: {sizeLimit: 64Mi}}]
volumeMounts: [{name: tmp, mountPath: /tmp}]
serviceAccount:
  annotations: {iam.gke.io/gcp-service-account: shop@demo.iam.gserviceaccount.com, team: shop}
gateway:
  replicas: 0
  resources: {limits: null}
orders:
  image: {tag: 1.2.4}
  extraEnv: [{name: GOMEMLIMIT, value: 200MiB}]
  serviceAccount: {annotations: {team: orders}}
  topologySpreadConstraints: []
inventory:
  podDisruptionBudget: {minAvailable: 2}
  topologySpreadConstraints:
    - {maxSkew: 2, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule}
`,
		// force: a budget for the gateway's zero replicas too; no policy.
		objects: append([]string{"PodDisruptionBudget/gateway", "PodDisruptionBudget/orders", "PodDisruptionBudget/inventory"}, k8sObjects[:4]...),
		env: baseEnv("k8s", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability.svc:4317", "OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "-",
			"KITEXSUITE_DRAIN": "3s", "KITEXSUITE_EXIT_WAIT": "8s", "KITEXSUITE_GOMEMLIMIT_PERCENT": "80", "LOG_LEVEL": "debug",
		}),
		svcEnv: map[string]map[string]string{
			// No memory limit, so nothing for GOMEMLIMIT.
			"gateway":   {"KITEXSUITE_MEMORY_LIMIT": "-", "KITEXSUITE_GOMEMLIMIT_PERCENT": "-"},
			"orders":    {"KITEXSUITE_DRAIN_TIMEOUT": "20s", "GOMEMLIMIT": "200MiB"},
			"inventory": {"KITEXSUITE_DRAIN_TIMEOUT": "20s"},
		},
		grace: map[string]int64{"gateway": 60, "orders": 60, "inventory": 60},
		pdb:   map[string]string{"gateway": "maxUnavailable=1", "orders": "maxUnavailable=1", "inventory": "minAvailable=2"},
		spread: func(service string) []corev1.TopologySpreadConstraint {
			switch service {
			case "orders":
				return nil
			case "inventory":
				return []corev1.TopologySpreadConstraint{{MaxSkew: 2, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
					LabelSelector: serviceSelector("inventory"), MatchLabelKeys: []string{"pod-template-hash"}}}
			}
			return defaultSpread(service)
		},
		check: func(t *testing.T, objs []*unstructured.Unstructured, deps map[string]*appsv1.Deployment) {
			for _, name := range []string{"gateway", "orders", "inventory"} {
				want := map[string]string{"iam.gke.io/gcp-service-account": "shop@demo.iam.gserviceaccount.com", "team": "shop"}
				if name == "orders" {
					want["team"] = "orders" // the service's own wins
				}
				if got := findObject(objs, "ServiceAccount", name).GetAnnotations(); !maps.Equal(got, want) {
					t.Errorf("ServiceAccount %s annotations %v, want %v", name, got, want)
				}
				spec := deps[name].Spec.Template.Spec
				c := spec.Containers[0]
				optional := true
				if want := []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "shop-config"}, Optional: &optional}}}; !reflect.DeepEqual(c.EnvFrom, want) {
					t.Errorf("Deployment %s envFrom %+v, want %+v", name, c.EnvFrom, want)
				}
				if len(spec.Volumes) != 1 || spec.Volumes[0].Name != "tmp" || spec.Volumes[0].EmptyDir == nil ||
					!reflect.DeepEqual(c.VolumeMounts, []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}) {
					t.Errorf("Deployment %s volumes %+v, mounts %+v; want emptyDir tmp at /tmp", name, spec.Volumes, c.VolumeMounts)
				}
				wantTag := map[string]string{"gateway": "1.2.3", "orders": "1.2.4", "inventory": "1.2.3"}[name]
				if want := "ghcr.io/kitexsuite/" + name + ":" + wantTag; c.Image != want {
					t.Errorf("Deployment %s image %s, want %s", name, c.Image, want)
				}
			}
		},
	}
}

// serviceSelector is the selector of a service's pods in release demo.
func serviceSelector(service string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": service, "app.kubernetes.io/instance": "demo"}}
}

// defaultSpread is the chart's default spread of a service's pods: by node
// and by zone, preferred, each rolling update's ReplicaSet on its own.
func defaultSpread(service string) []corev1.TopologySpreadConstraint {
	var out []corev1.TopologySpreadConstraint
	for _, key := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		out = append(out, corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: key, WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: serviceSelector(service), MatchLabelKeys: []string{"pod-template-hash"}})
	}
	return out
}

// checkSecretVolume checks that every Deployment mounts Secret secret,
// with items, read-only at path as volume name, and nothing else.
func checkSecretVolume(t *testing.T, deps map[string]*appsv1.Deployment, name, secret, path string, items []corev1.KeyToPath) {
	t.Helper()
	want := []corev1.Volume{{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret, Items: items}}}}
	for svc, d := range deps {
		spec := d.Spec.Template.Spec
		if !reflect.DeepEqual(spec.Volumes, want) {
			t.Errorf("Deployment %s volumes %+v, want %+v", svc, spec.Volumes, want)
		}
		if got, want := spec.Containers[0].VolumeMounts, []corev1.VolumeMount{{Name: name, MountPath: path, ReadOnly: true}}; !reflect.DeepEqual(got, want) {
			t.Errorf("Deployment %s mounts %+v, want %+v", svc, got, want)
		}
	}
}

// containerEnv is c's environment by name: a value, or where it comes from
// ("fieldRef:PATH", "secretKeyRef:SECRET/KEY",
// "resourceFieldRef:CONTAINER/RESOURCE/DIVISOR"), and the names in order.
func containerEnv(c corev1.Container) (map[string]string, []string) {
	env, order := map[string]string{}, []string(nil)
	for _, e := range c.Env {
		order = append(order, e.Name)
		env[e.Name] = e.Value
		switch f := e.ValueFrom; {
		case f == nil:
		case f.FieldRef != nil:
			env[e.Name] = "fieldRef:" + f.FieldRef.FieldPath
		case f.SecretKeyRef != nil:
			env[e.Name] = "secretKeyRef:" + f.SecretKeyRef.Name + "/" + f.SecretKeyRef.Key
		case f.ResourceFieldRef != nil:
			env[e.Name] = "resourceFieldRef:" + f.ResourceFieldRef.ContainerName + "/" + f.ResourceFieldRef.Resource + "/" + f.ResourceFieldRef.Divisor.String()
		}
	}
	return env, order
}

// checkChartObjects checks what the chart rendered for c before the API
// server sees it, exactly: the objects; their labels; per Deployment the
// readiness gate, environment, grace period, probes and spread; the
// budgets; the RBAC subjects; the own-pod status policy.
func checkChartObjects(t *testing.T, ns string, objs []*unstructured.Unstructured, c chartCase) {
	t.Helper()
	want := []string{}
	for _, s := range []string{"gateway", "orders", "inventory"} {
		want = append(want, "Deployment/"+s, "Service/"+s, "ServiceAccount/"+s)
	}
	for _, o := range c.objects {
		want = append(want, strings.ReplaceAll(o, "{ns}", ns))
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
	}
	deps := map[string]*appsv1.Deployment{}
	for _, d := range deployments(t, objs) {
		deps[d.Name] = d
		checkDeployment(t, d, c)
	}
	checkPDBs(t, objs, c.pdb)
	if c.k8s {
		checkBindings(t, objs)
	}
	if vap := findObject(objs, "ValidatingAdmissionPolicy", "demo-"+ns+"-kitexsuite-own-pod-status"); vap != nil {
		checkOwnPodStatusObjects(t, ns, objs, vap)
	}
	if c.check != nil {
		c.check(t, objs, deps)
	}
}

// checkDeployment checks Deployment d of case c.
func checkDeployment(t *testing.T, d *appsv1.Deployment, c chartCase) {
	t.Helper()
	spec := d.Spec.Template.Spec
	gated := slices.ContainsFunc(spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g.ConditionType == "kitexsuite.io/serving" })
	if wantGate := c.k8s && d.Name != "gateway"; gated != wantGate {
		t.Errorf("Deployment %s: readiness gate %v, want %v", d.Name, gated, wantGate)
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds != c.grace[d.Name] {
		t.Errorf("Deployment %s: terminationGracePeriodSeconds %v, want %d", d.Name, spec.TerminationGracePeriodSeconds, c.grace[d.Name])
	}
	ctr := spec.Containers[0]
	env, order := containerEnv(ctr)
	if env["OTEL_SERVICE_NAME"] != d.Name || env["POD_NAME"] != "fieldRef:metadata.name" || env["POD_NAMESPACE"] != "fieldRef:metadata.namespace" {
		t.Errorf("Deployment %s env %v", d.Name, env)
	}
	wantEnv := maps.Clone(c.env)
	maps.Copy(wantEnv, c.svcEnv[d.Name])
	for name, want := range wantEnv {
		want = strings.ReplaceAll(want, "{name}", d.Name)
		if got, ok := env[name]; want == "-" && ok || want != "-" && got != want {
			t.Errorf("Deployment %s: %s=%q (set %v), want %q", d.Name, name, got, ok, want)
		}
	}
	// $(HOST_IP) expands only in variables defined after HOST_IP.
	if h, a := slices.Index(order, "HOST_IP"), slices.Index(order, "CONSUL_HTTP_ADDR"); h >= 0 && h > a {
		t.Errorf("Deployment %s: HOST_IP after CONSUL_HTTP_ADDR in %v", d.Name, order)
	}

	// Probes: a startup probe first (60 s), then readiness and liveness;
	// the gateway is ready only while it resolves orders (/readyz).
	handler := func(path string) corev1.ProbeHandler {
		if d.Name == "gateway" {
			return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}}
		}
		return corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("rpc")}}
	}
	for _, p := range []struct {
		kind   string
		got    *corev1.Probe
		path   string
		period int32
	}{{"startup", ctr.StartupProbe, "/healthz", 2}, {"readiness", ctr.ReadinessProbe, "/readyz", 5}, {"liveness", ctr.LivenessProbe, "/healthz", 10}} {
		if p.got == nil {
			t.Errorf("Deployment %s: no %s probe", d.Name, p.kind)
			continue
		}
		got := p.got.ProbeHandler
		if got.HTTPGet != nil && got.HTTPGet.Scheme == "" {
			got.HTTPGet.Scheme = corev1.URISchemeHTTP // the API server's default
		}
		if want := handler(p.path); !reflect.DeepEqual(got, want) || p.got.PeriodSeconds != p.period || p.got.InitialDelaySeconds != 0 {
			t.Errorf("Deployment %s: %s probe %+v every %d s after %d s, want %+v every %d s", d.Name, p.kind, got, p.got.PeriodSeconds, p.got.InitialDelaySeconds, want, p.period)
		}
	}
	if p := ctr.StartupProbe; p != nil && p.FailureThreshold != 30 {
		t.Errorf("Deployment %s: startup probe failureThreshold %d, want 30", d.Name, p.FailureThreshold)
	}

	spread := defaultSpread
	if c.spread != nil {
		spread = c.spread
	}
	if want := spread(d.Name); !reflect.DeepEqual(spec.TopologySpreadConstraints, want) {
		t.Errorf("Deployment %s: topologySpreadConstraints %+v, want %+v", d.Name, spec.TopologySpreadConstraints, want)
	}
}

// checkPDBs checks each PodDisruptionBudget against want ("maxUnavailable=1",
// "minAvailable=2") and its selector against its service's.
func checkPDBs(t *testing.T, objs []*unstructured.Unstructured, want map[string]string) {
	t.Helper()
	for _, obj := range objs {
		if obj.GetKind() != "PodDisruptionBudget" {
			continue
		}
		var pdb policyv1.PodDisruptionBudget
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &pdb); err != nil {
			t.Fatal(err)
		}
		got := ""
		switch s := pdb.Spec; {
		case s.MaxUnavailable != nil && s.MinAvailable == nil:
			got = "maxUnavailable=" + s.MaxUnavailable.String()
		case s.MinAvailable != nil && s.MaxUnavailable == nil:
			got = "minAvailable=" + s.MinAvailable.String()
		}
		if got != want[pdb.Name] || !reflect.DeepEqual(pdb.Spec.Selector, serviceSelector(pdb.Name)) {
			t.Errorf("PodDisruptionBudget %s: %q selecting %v, want %q selecting %v", pdb.Name, got, pdb.Spec.Selector, want[pdb.Name], serviceSelector(pdb.Name))
		}
	}
}

// checkBindings checks that the release's RoleBindings bind its Roles to
// the services that need them, as in registry/k8s/rbac.
func checkBindings(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, c := range []struct {
		name     string
		subjects []string
	}{{"demo-kitexsuite-registry", []string{"orders", "inventory"}}, {"demo-kitexsuite-resolver", []string{"gateway", "orders"}}} {
		rb := findObject(objs, "RoleBinding", c.name)
		if rb == nil {
			t.Errorf("no RoleBinding %s", c.name)
			continue
		}
		var subjects []string
		subs, _, _ := unstructured.NestedSlice(rb.Object, "subjects")
		for _, s := range subs {
			subjects = append(subjects, s.(map[string]any)["name"].(string))
		}
		role, _, _ := unstructured.NestedString(rb.Object, "roleRef", "name")
		if !slices.Equal(subjects, c.subjects) || role != c.name {
			t.Errorf("RoleBinding %s binds Role %s to %v, want Role %s to %v", c.name, role, subjects, c.name, c.subjects)
		}
	}
}

// checkOwnPodStatusObjects checks the policy vap and its binding: UPDATEs
// of pods/status in ns by the servers' ServiceAccounts.
func checkOwnPodStatusObjects(t *testing.T, ns string, objs []*unstructured.Unstructured, vap *unstructured.Unstructured) {
	t.Helper()
	var policy admissionregistrationv1.ValidatingAdmissionPolicy
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(vap.Object, &policy); err != nil {
		t.Fatal(err)
	}
	mc := policy.Spec.MatchConstraints
	wantMatch := fmt.Sprintf("request.userInfo.username in ['system:serviceaccount:%s:orders', 'system:serviceaccount:%s:inventory']", ns, ns)
	if mc == nil || len(mc.ResourceRules) != 1 || !slices.Equal(mc.ResourceRules[0].Resources, []string{"pods/status"}) ||
		!slices.Equal(mc.ResourceRules[0].Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Update}) ||
		mc.NamespaceSelector == nil || mc.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != ns ||
		len(policy.Spec.MatchConditions) != 1 || policy.Spec.MatchConditions[0].Expression != wantMatch || len(policy.Spec.Validations) != 1 {
		t.Errorf("ValidatingAdmissionPolicy %s: %+v", policy.Name, policy.Spec)
	}
	b := findObject(objs, "ValidatingAdmissionPolicyBinding", policy.Name)
	if b == nil {
		t.Fatalf("no ValidatingAdmissionPolicyBinding %s", policy.Name)
	}
	name, _, _ := unstructured.NestedString(b.Object, "spec", "policyName")
	actions, _, _ := unstructured.NestedStringSlice(b.Object, "spec", "validationActions")
	if name != policy.Name || !slices.Equal(actions, []string{"Deny"}) {
		t.Errorf("ValidatingAdmissionPolicyBinding %s: policy %s, actions %v", b.GetName(), name, actions)
	}
}
