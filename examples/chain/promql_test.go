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
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

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
