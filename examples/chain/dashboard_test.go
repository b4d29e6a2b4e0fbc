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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

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
