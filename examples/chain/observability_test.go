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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"gopkg.in/yaml.v3"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/metrics"
	etcdreg "github.com/kitexsuite/suite/registry/etcd"
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

// dashboard is the part of a Grafana dashboard JSON model the checks read.
type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Exemplar   bool           `json:"exemplar"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options any    `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type variable struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Query       json.RawMessage `json:"query"` // a string, or {"query": "..."}
	Datasource  *datasourceRef  `json:"datasource"`
}

// queryString is a variable's query: Grafana stores it as a string or, for
// Prometheus query variables since Grafana 10, as {"query": "..."}.
func (v variable) queryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s is not a valid dashboard JSON: %v", dashboardFile, err)
	}
	if dec.More() {
		t.Fatalf("%s: trailing data after the JSON object", dashboardFile)
	}
	return d
}

func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// labelValuesRE matches a Grafana label_values(selector, label) variable
// query.
var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// promQuery is one PromQL expression of the deploy files, with where it
// comes from.
type promQuery struct {
	where string
	expr  string
	label string // for label_values(expr, label): the label listed
}

// dashboardQueries returns every PromQL expression of the dashboard: panel
// targets and the selectors of label_values variables.
func dashboardQueries(t *testing.T, d dashboard) []promQuery {
	t.Helper()
	var out []promQuery
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			if tg.Expr != "" {
				out = append(out, promQuery{where: fmt.Sprintf("%s panel %q target %s", dashboardFile, p.Title, tg.RefID), expr: tg.Expr})
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.queryString()
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("%s: variable %q: query %q is not label_values(selector, label)", dashboardFile, v.Name, q)
			continue
		}
		out = append(out, promQuery{where: fmt.Sprintf("%s variable %q", dashboardFile, v.Name), expr: m[1], label: m[2]})
	}
	return out
}

// rulesQueries returns the expression of every rule of the rules file.
func rulesQueries(t *testing.T) []promQuery {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var out []promQuery
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			out = append(out, promQuery{where: fmt.Sprintf("%s group %q rule %q", rulesFile, g.Name, r.Alert+r.Record), expr: r.Expr})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no rules", rulesFile)
	}
	return out
}

// grafanaVarRE matches Grafana variable references: $name, ${name},
// ${name:format} and the deprecated [[name]].
var grafanaVarRE = regexp.MustCompile(`\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*|\[\[[^\]]*\]\]`)

// substituteGrafanaVars turns a dashboard expression into plain PromQL the
// way Grafana would with every variable at "All": range variables become 5m,
// the others (all inside label-matcher strings) ".*".
func substituteGrafanaVars(expr string) string {
	return grafanaVarRE.ReplaceAllStringFunc(expr, func(v string) string {
		name := strings.Trim(v, "${}[]")
		name, _, _ = strings.Cut(name, ":")
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		}
		return ".*"
	})
}

func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion = %d, want ≥ 39", d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both are needed for provisioning", d.UID, d.Title)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || v.queryString() != "prometheus" {
		t.Errorf("variable datasource = %+v, want type datasource, query prometheus", v)
	}
	for _, name := range []string{"service", "method"} {
		v := vars[name]
		if v.Type != "query" || !labelValuesRE.MatchString(v.queryString()) || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s = %+v, want a label_values query on ${datasource}", name, v)
		}
	}
	if v := vars["trace_datasource_uid"]; v.Type == "" || v.Description == "" {
		t.Errorf("variable trace_datasource_uid = %+v, want a documented variable", v)
	} else {
		checkExemplarDestination(t, v.queryString())
	}

	ids := map[int]string{}
	for _, p := range d.allPanels() {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Datasource == nil || p.Datasource.UID == "" {
			t.Errorf("panel %q has no datasource", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no target", p.Title)
		}
		latency, exemplars := false, false
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" {
				t.Errorf("panel %q: target %q has no expr or refId", p.Title, tg.RefID)
			}
			if tg.Datasource == nil || tg.Datasource.UID != p.Datasource.UID {
				t.Errorf("panel %q: target %s's datasource differs from the panel's", p.Title, tg.RefID)
			}
			latency = latency || strings.Contains(tg.Expr, "_call_duration_seconds_bucket")
			exemplars = exemplars || tg.Exemplar
		}
		if latency && !exemplars {
			t.Errorf("latency panel %q: no target has exemplars enabled", p.Title)
		}
		if latency && !hasTraceLink(p) {
			t.Errorf("latency panel %q: no data link on the exemplars' trace_id to ${trace_datasource_uid}", p.Title)
		}
	}

	// Let promtool's PromQL parser judge every expression: write them as
	// recording rules into a rules file of their own.
	var b, index strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range dashboardQueries(t, d) {
		expr, _ := json.Marshal(substituteGrafanaVars(q.expr)) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:expr_%d\n        expr: %s\n", i, expr)
		fmt.Fprintf(&index, "\tdashboard:expr_%d is %s\n", i, q.where)
	}
	tmp := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runPromtool(t, "check", "rules", tmp); err != nil {
		t.Errorf("promtool rejects a dashboard expression: %v\n%s\n%s", err, out, index.String())
	}
}

// checkExemplarDestination checks that the provisioned Prometheus
// datasource sends exemplars' trace_id to the tracing datasource uid, the
// default of the dashboard's trace_datasource_uid, and that it is
// provisioned too.
func checkExemplarDestination(t *testing.T, uid string) {
	t.Helper()
	raw, err := os.ReadFile(datasourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			JSONData struct {
				Exemplars []struct {
					Name          string `yaml:"name"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"exemplarTraceIdDestinations"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", datasourcesFile, err)
	}
	linked, tracing := false, false
	for _, ds := range f.Datasources {
		for _, e := range ds.JSONData.Exemplars {
			linked = linked || ds.Type == "prometheus" && e.Name == "trace_id" && e.DatasourceUID == uid
		}
		tracing = tracing || ds.UID == uid && (ds.Type == "tempo" || ds.Type == "jaeger")
	}
	if !linked || !tracing {
		t.Errorf("%s: want a prometheus datasource with exemplarTraceIdDestinations {name: trace_id, datasourceUid: %s} (linked: %v) and a tempo or jaeger datasource of uid %s (present: %v)",
			datasourcesFile, uid, linked, uid, tracing)
	}
}

// hasTraceLink reports whether p links the exemplars' trace_id field to
// the tracing datasource variable.
func hasTraceLink(p panel) bool {
	for _, o := range p.FieldConfig.Overrides {
		if o.Matcher.ID != "byName" || o.Matcher.Options != "trace_id" {
			continue
		}
		for _, prop := range o.Properties {
			if raw, _ := json.Marshal(prop.Value); prop.ID == "links" && strings.Contains(string(raw), "${trace_datasource_uid}") {
				return true
			}
		}
	}
	return false
}

// PromQL vocabulary, for telling metric names from everything else.
var (
	// promFunctions are PromQL's functions and aggregation operators (an
	// identifier followed by "(" must be one of them).
	promFunctions = set(
		// aggregation operators
		"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio",
		// functions
		"abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
		"day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
		"histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
		"histogram_stdvar", "histogram_sum", "double_exponential_smoothing", "holt_winters", "hour", "idelta",
		"increase", "info", "irate", "label_join", "label_replace", "ln", "log2", "log10", "minute", "month",
		"predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sort_by_label",
		"sort_by_label_desc", "sqrt", "time", "timestamp", "vector", "year",
		"avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
		"quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
		"mad_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh",
		"tan", "tanh", "deg", "rad", "pi", "start", "end")
	// promKeywords are PromQL's other words: binary operators and
	// modifiers.
	promKeywords = set("and", "or", "unless", "atan2", "bool", "by", "without", "on", "ignoring",
		"group_left", "group_right", "offset", "inf", "nan")
	stringRE = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	// nameMatcherRE matches a __name__ matcher (before strings are blanked).
	nameMatcherRE = regexp.MustCompile(`__name__\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"`)
	// matcherLabelRE matches the label of each matcher inside {...}.
	matcherLabelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	// groupingRE matches the label lists of by, without, on, ignoring,
	// group_left and group_right.
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	bracesRE   = regexp.MustCompile(`\{[^}]*\}`)
	bracketsRE = regexp.MustCompile(`\[[^\]]*\]`)
	// tokenRE matches numbers and durations (skipped whole, so the "m" of
	// 5m is no identifier) and identifiers.
	tokenRE = regexp.MustCompile(`[0-9][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// promRefs is what one PromQL expression refers to.
type promRefs struct {
	metrics   []string // metric names
	nameRegex []string // values of __name__ matchers (regular expressions, anchored by PromQL)
	labels    []string // label names in matchers and grouping clauses
	unknown   []string // identifiers called like functions that PromQL does not define
}

// parsePromQL finds the metric names an expression selects, without a
// full PromQL parser (promtool has already parsed it): with strings and
// Grafana variables blanked, the text inside {...} is label matchers and
// inside [...] a range; the lists after by/without/on/ignoring/group_left/
// group_right are labels; of the remaining identifiers, one followed by "("
// is a function or aggregation, a keyword is a keyword, and any other is a
// metric name.
func parsePromQL(expr string) promRefs {
	var r promRefs
	for _, m := range nameMatcherRE.FindAllStringSubmatch(expr, -1) {
		if m[1] == "=" {
			r.metrics = append(r.metrics, m[2])
		} else {
			r.nameRegex = append(r.nameRegex, m[2])
		}
	}
	s := stringRE.ReplaceAllString(expr, `""`)
	s = grafanaVarRE.ReplaceAllString(s, "")
	for _, braces := range bracesRE.FindAllString(s, -1) {
		for _, m := range matcherLabelRE.FindAllStringSubmatch(braces, -1) {
			if m[1] != "__name__" {
				r.labels = append(r.labels, m[1])
			}
		}
	}
	s = bracesRE.ReplaceAllString(s, " ")
	s = bracketsRE.ReplaceAllString(s, " ")
	for _, m := range groupingRE.FindAllStringSubmatch(s, -1) {
		for l := range strings.SplitSeq(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				r.labels = append(r.labels, l)
			}
		}
	}
	s = groupingRE.ReplaceAllString(s, " ") // sum by (x) (y) reads as sum (y)
	for _, loc := range tokenRE.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' {
			continue
		}
		call := strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\r\n"), "(")
		switch {
		case call && promFunctions[tok]:
		case call:
			r.unknown = append(r.unknown, tok)
		case promKeywords[strings.ToLower(tok)]:
		default:
			r.metrics = append(r.metrics, tok)
		}
	}
	return r
}

func TestParsePromQL(t *testing.T) {
	for _, tc := range []struct {
		expr            string
		metrics, labels []string
	}{
		{`histogram_quantile(0.99, sum by (service, le) (rate(a_bucket{method=~"$method", outcome!="x{1}"}[$__rate_interval]))) > 0.5`,
			[]string{"a_bucket"}, []string{"method", "outcome", "service", "le"}},
		{`sum(rate(b_total[5m] offset 1h)) by (x) / ignoring(outcome) group_left sum without (y) (c) and on (z) d == bool 0`,
			[]string{"b_total", "c", "d"}, []string{"x", "outcome", "y", "z"}},
		{`{__name__=~"kitex_(a|b)", service="s"}`, nil, []string{"service"}},
		{`max_over_time(e:rule[1m:10s]) * 1e3 + inf`, []string{"e:rule"}, nil},
	} {
		r := parsePromQL(tc.expr)
		if !slices.Equal(r.metrics, tc.metrics) || !slices.Equal(r.labels, tc.labels) || r.unknown != nil {
			t.Errorf("parsePromQL(%q) = %+v, want metrics %q, labels %q", tc.expr, r, tc.metrics, tc.labels)
		}
	}
	if r := parsePromQL(`rat(x[1m])`); !slices.Equal(r.unknown, []string{"rat"}) {
		t.Errorf("a misspelt function: %+v", r)
	}
}

// exported is what a scrape of the services offers a query: every series
// name (a histogram family F as F_bucket, F_sum and F_count) and, per name,
// its label names.
type exported map[string]map[string]bool

func (e exported) add(fam *dto.MetricFamily) {
	names := []string{fam.GetName()}
	switch fam.GetType() {
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		names = append(names, fam.GetName()+"_bucket", fam.GetName()+"_sum", fam.GetName()+"_count")
	case dto.MetricType_SUMMARY:
		names = append(names, fam.GetName()+"_sum", fam.GetName()+"_count")
	}
	for _, n := range names {
		if e[n] == nil {
			e[n] = map[string]bool{}
		}
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				e[n][lp.GetName()] = true
			}
		}
		if strings.HasSuffix(n, "_bucket") {
			e[n]["le"] = true
		}
	}
}

func (e exported) names() []string {
	out := make([]string, 0, len(e))
	for n := range e {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// check returns what of q the scrape lacks: metric names, __name__ regular
// expressions matching nothing, labels on none of the selected series,
// unknown functions.
func (e exported) check(q promQuery) []string {
	r := parsePromQL(q.expr)
	var problems []string
	known := set(targetLabels...)
	for _, m := range r.metrics {
		if e[m] == nil {
			problems = append(problems, "metric "+m+" is not exported")
		}
		for l := range e[m] {
			known[l] = true
		}
	}
	for _, re := range r.nameRegex {
		rx, err := regexp.Compile("^(?:" + re + ")$")
		if err != nil {
			problems = append(problems, fmt.Sprintf("__name__=~%q: %v", re, err))
			continue
		}
		matched := false
		for n, labels := range e {
			if rx.MatchString(n) {
				matched = true
				for l := range labels {
					known[l] = true
				}
			}
		}
		if !matched {
			problems = append(problems, fmt.Sprintf("__name__=~%q matches no exported metric", re))
		}
	}
	if len(r.metrics)+len(r.nameRegex) == 0 {
		problems = append(problems, "selects no metric")
	}
	for _, l := range append(r.labels, q.label) {
		if l != "" && !known[l] {
			problems = append(problems, "label "+l+" is on none of its metrics")
		}
	}
	for _, f := range r.unknown {
		problems = append(problems, "unknown function "+f+"()")
	}
	return problems
}

func TestDeployQueriesMatchLiveMetrics(t *testing.T) {
	start := time.Now()
	c := startTestChain(t)
	httpc := &http.Client{Timeout: 5 * time.Second}
	for _, q := range []string{"item=a", "item=b", "item=c", "item=d&fail=biz", "item=e&fail=error"} {
		resp, err := httpc.Get("http://" + c.gateway + "/order?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		want := http.StatusOK
		if strings.Contains(q, "fail=") {
			want = http.StatusBadGateway
		}
		if resp.StatusCode != want {
			t.Fatalf("GET /order?%s: %d %s, want %d", q, resp.StatusCode, body, want)
		}
	}
	// Break the resolvers' etcd watches once, as a network fault or a
	// member losing its leader would; they must count the restart and
	// recover.
	broken := time.Now()
	c.breaker.breakAll()

	// Scrape until both resolvers (gateway's, orders') have counted a restart
	// and listed their target again since the break: a sync age below the
	// time from the break to the scrape (which is conservative: the age is
	// observed during the scrape).
	var exp exported
	deadline := time.Now().Add(15 * time.Second)
	for {
		exp = exported{}
		healed := map[string]bool{}
		for _, svc := range []string{Gateway, Orders, Inventory} {
			restarted, fresh := false, false
			sinceBreak := time.Since(broken).Seconds()
			for _, fam := range scrape(t, c.metricsURL[svc]) {
				exp.add(fam)
				switch fam.GetName() {
				case "kitexsuite_discovery_watch_restarts_total":
					restarted = len(fam.GetMetric()) > 0
				case "kitexsuite_discovery_sync_age_seconds":
					fresh = len(fam.GetMetric()) > 0
					for _, m := range fam.GetMetric() {
						fresh = fresh && m.GetGauge().GetValue() < sinceBreak
					}
				}
			}
			healed[svc] = restarted && fresh
		}
		if healed[Gateway] && healed[Orders] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after their watches broke, the resolvers have not restarted and re-listed them (gateway %v, orders %v)", healed[Gateway], healed[Orders])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("exported series names: %s", strings.Join(exp.names(), " "))

	// Exemplars: the duration buckets carry the trace_id of the call's span,
	// which the dashboard links to the tracing datasource.
	var exemplar string
	om := scrapeText(t, c.metricsURL[Orders], string(expfmt.NewFormat(expfmt.TypeOpenMetrics)))
	for line := range strings.SplitSeq(om, "\n") {
		if strings.HasPrefix(line, "kitex_server_call_duration_seconds_bucket{") && strings.Contains(line, `# {`) {
			exemplar = line
			break
		}
	}
	if !strings.Contains(exemplar, `trace_id="`) {
		t.Errorf("orders' OpenMetrics exposition has no duration bucket with a trace_id exemplar")
	} else {
		t.Logf("exemplar: %s", exemplar)
	}

	queries := append(dashboardQueries(t, loadDashboard(t)), rulesQueries(t)...)
	used := map[string]bool{}
	var missing []string
	for _, q := range queries {
		for _, m := range parsePromQL(q.expr).metrics {
			used[m] = true
		}
		for _, p := range exp.check(q) {
			missing = append(missing, fmt.Sprintf("%s: %s\n\t%s", q.where, p, q.expr))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("queries the live services cannot answer (exported: %s):\n%s", strings.Join(exp.names(), " "), strings.Join(missing, "\n"))
	}
	t.Logf("%d queries use %d metrics, all exported: %s (%v)", len(queries), len(used),
		strings.Join(slices.Sorted(maps.Keys(used)), " "), time.Since(start).Round(time.Millisecond))
}

// scrape gets url as Prometheus does, in the protobuf format (which keeps
// every family's type), and decodes it.
func scrape(t *testing.T, url string) []*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var out []*dto.MetricFamily
	for {
		fam := &dto.MetricFamily{}
		if err := dec.Decode(fam); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("decoding %s: %v", url, err)
		}
		out = append(out, fam)
	}
}

func scrapeText(t *testing.T, url, accept string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// testChain is the chain running in the test process.
type testChain struct {
	gateway    string            // host:port of the gateway's HTTP
	metricsURL map[string]string // each service's /metrics
	breaker    *watchBreaker
}

// startTestChain runs gateway → orders → inventory on loopback listeners,
// discovered through an embedded etcd, each service with its own
// TracerProvider (recording in memory), Prometheus registry and /metrics
// endpoint, and the resolvers reporting their self-metrics into their
// service's registry through the OTel Prometheus exporter, as chain.Run
// does. Everything stops when the test ends.
func startTestChain(t *testing.T) *testChain {
	t.Helper()
	etcdURL := startTestEtcd(t)
	c := &testChain{metricsURL: map[string]string{}, breaker: &watchBreaker{}}
	newClient := func(opts ...grpc.DialOption) *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), DialOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		return cli
	}
	// The servers register through a client of their own; the resolvers'
	// clients go through the breaker.
	registry := etcdreg.NewRegistry(newClient(), etcdreg.WithDrainDelay(100*time.Millisecond))
	rec := tracetest.NewSpanRecorder()
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

	resolvers := map[string]*discoverycore.Resolver{} // by the service resolving
	addrs := map[string]string{}
	for _, name := range []string{Inventory, Orders, Gateway} {
		reg := prometheus.NewRegistry()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		o := Options{Listener: ln, TracerProvider: tp, Propagator: prop, Metrics: reg, ExitWait: 100 * time.Millisecond}
		if name != Gateway {
			o.Registry = registry
		}
		if name != Inventory {
			exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
			if err != nil {
				t.Fatal(err)
			}
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
			t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			r := etcdreg.NewResolver(newClient(grpc.WithChainStreamInterceptor(c.breaker.intercept)),
				etcdreg.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
			t.Cleanup(func() { _ = r.Close() })
			o.Resolver, resolvers[name] = r, r
		}
		svc, err := Start(name, o)
		if err != nil {
			_ = ln.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := svc.Stop(); err != nil {
				t.Errorf("stopping %s: %v", name, err)
			}
		})
		addrs[name] = svc.Addr
		c.metricsURL[name] = serveMetrics(t, reg)
	}
	c.gateway = addrs[Gateway]
	// Kitex registers a server a second after it starts.
	awaitResolved(t, resolvers[Gateway], Orders, addrs[Orders])
	awaitResolved(t, resolvers[Orders], Inventory, addrs[Inventory])
	return c
}

// awaitResolved waits until r resolves target to addr.
func awaitResolved(t *testing.T, r *discoverycore.Resolver, target, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := r.Resolve(context.Background(), target)
		if err == nil && slices.ContainsFunc(res.Instances, func(i discovery.Instance) bool { return i.Address().String() == addr }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s not resolved in 15 s (last: %v, %v)", target, addr, res.Instances, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serveMetrics serves reg's /metrics as chain.Run does and returns its URL.
func serveMetrics(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/metrics"
}

// startTestEtcd runs a single-member etcd on free loopback ports, as the
// demo does, and returns its client URL.
func startTestEtcd(t *testing.T) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "observability", t.TempDir()
	var urls []url.URL
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, url.URL{Scheme: "http", Host: ln.Addr().String()})
		_ = ln.Close()
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = urls[:1], urls[:1]
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = urls[1:], urls[1:]
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.TickMs, cfg.ElectionMs = 10, 50
	cfg.Logger, cfg.ZapLoggerBuilder = "zap", embed.NewZapLoggerBuilder(zap.NewNop())
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(srv.Close)
	select {
	case <-srv.Server.ReadyNotify():
	case <-time.After(15 * time.Second):
		t.Fatal("embedded etcd not ready in 15 s")
	}
	return urls[0].String()
}

// watchBreaker, dialled into etcd clients as a stream interceptor, can end
// every Watch stream they hold — the watches fail as on a network fault or
// a member losing its leader, and resolvers must start them again.
type watchBreaker struct {
	mu      sync.Mutex
	cancels []context.CancelFunc
}

func (b *watchBreaker) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if method != "/etcdserverpb.Watch/Watch" {
		return streamer(ctx, desc, cc, method, opts...)
	}
	ctx, cancel := context.WithCancel(ctx)
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	b.mu.Lock()
	b.cancels = append(b.cancels, cancel)
	b.mu.Unlock()
	return s, nil
}

// breakAll ends the Watch streams open now.
func (b *watchBreaker) breakAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cancel := range b.cancels {
		cancel()
	}
	b.cancels = nil
}
