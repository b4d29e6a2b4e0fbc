package chain

// The deploy files under examples/deploy — the Grafana dashboard, the
// Prometheus alerting rules and the example Prometheus configuration — are
// checked here, so `make test` (go test in every module) catches a query
// that names a metric or label the services do not export:
//
//   - promtool checks the rules, their unit tests and the configuration,
//     and parses every dashboard expression (written into a throw-away
//     rules file, Grafana variables substituted);
//   - the dashboard is valid JSON of the expected shape;
//   - the chain runs in this process (embedded etcd, each service with its
//     own Prometheus registry and the resolvers' OTel self-metrics bridged
//     into it, as chain.Run does), serves real traffic including a business
//     error and a failure, has its resolvers' etcd watches broken once, and
//     is scraped over HTTP; every metric and label the dashboard and the
//     rules use must be in that scrape.

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Paths of the deploy files, relative to this package's directory (where go
// test runs the test binary).
const (
	dashboardFile   = "../deploy/grafana/kitexsuite-rpc.json"
	datasourcesFile = "../deploy/grafana/datasources.yaml"
	rulesFile       = "../deploy/prometheus/kitexsuite-alerts.yml"
	rulesTestFile   = "../deploy/prometheus/kitexsuite-alerts.test.yml"
	configFile      = "../deploy/prometheus/prometheus.yml"
)

// targetLabels are the labels Prometheus attaches to every series of a
// target rather than the services exporting them: job and instance, and
// what prometheus.yml (or the Prometheus Operator's ServiceMonitor) sets
// from the target: service, namespace, pod.
var targetLabels = []string{"job", "instance", "service", "namespace", "pod"}

// runPromtool runs promtool with args (paths relative to this package);
// a missing promtool fails the test.
func runPromtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): run `make tools`, which installs it from Debian's prometheus package", err)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	return string(out), err
}

// promtool runs promtool with args and returns its output; a failure fails
// the test.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runPromtool(t, args...)
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestPrometheusRulesAndConfig(t *testing.T) {
	t.Log(promtool(t, "check", "rules", rulesFile))
	t.Log(promtool(t, "test", "rules", rulesTestFile))
	checkConfig(t)
}

// kubernetesSDRoles are the roles of a kubernetes_sd_config.
var kubernetesSDRoles = set("node", "service", "pod", "endpoints", "endpointslice", "ingress")

// checkConfig runs `promtool check config` on prometheus.yml, which loads
// and checks the rules file too. Debian's Prometheus is built without
// Kubernetes service discovery (its packaging removed it for client-go's
// dependencies), so its promtool rejects kubernetes_sd_configs as an
// unknown field; with such a promtool the kubernetes_sd_configs blocks are
// checked here (a list of {role: <known role>, ...}) and promtool checks
// the rest of the file without them: relabelling, the other jobs, the rule
// files.
func checkConfig(t *testing.T) {
	out, err := runPromtool(t, "check", "config", configFile)
	if err == nil {
		t.Log(out)
		return
	}
	if !strings.Contains(out, "field kubernetes_sd_configs not found") {
		t.Fatalf("promtool check config %s: %v\n%s", configFile, err, out)
	}
	raw, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) != 1 {
		t.Fatalf("%s: %v", configFile, err)
	}
	root := doc.Content[0]
	k8sJobs := 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		switch key {
		case "rule_files": // relative to the configuration file, which moves
			for _, f := range val.Content {
				abs, err := filepath.Abs(filepath.Join(filepath.Dir(configFile), f.Value))
				if err != nil {
					t.Fatal(err)
				}
				f.Value = abs
			}
		case "scrape_configs":
			for _, job := range val.Content {
				for j := 0; j+1 < len(job.Content); j += 2 {
					if job.Content[j].Value != "kubernetes_sd_configs" {
						continue
					}
					var sds []map[string]any
					if err := job.Content[j+1].Decode(&sds); err != nil || len(sds) == 0 {
						t.Fatalf("%s: kubernetes_sd_configs is not a non-empty list of objects: %v", configFile, err)
					}
					for _, sd := range sds {
						if role, _ := sd["role"].(string); !kubernetesSDRoles[role] {
							t.Errorf("%s: kubernetes_sd_configs role %q, want one of node, service, pod, endpoints, endpointslice, ingress", configFile, role)
						}
					}
					job.Content = slices.Delete(job.Content, j, j+2)
					k8sJobs++
					break
				}
			}
		}
	}
	stripped, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(tmp, stripped, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("this promtool has no Kubernetes service discovery (Debian's build); checked the %d kubernetes_sd_configs here and the rest with promtool:\n%s",
		k8sJobs, promtool(t, "check", "config", tmp))
}
