package chain

import (
	"context"
	"flag"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestFlagsFromEnvironment: the variables the chart sets become the
// flags' defaults.
func TestFlagsFromEnvironment(t *testing.T) {
	for k, v := range map[string]string{
		"KITEXSUITE_REGISTRY": "etcd", "KITEXSUITE_ETCD_ENDPOINTS": "https://etcd-0:2379,https://etcd-1:2379",
		"KITEXSUITE_ETCD_CACERT": "/etc/kitexsuite/etcd-tls/ca.crt", "KITEXSUITE_ETCD_CERT": "/etc/kitexsuite/etcd-tls/tls.crt",
		"KITEXSUITE_ETCD_KEY": "/etc/kitexsuite/etcd-tls/tls.key", "KITEXSUITE_ETCD_USERNAME": "orders", "KITEXSUITE_ETCD_PASSWORD": "pw",
		"KITEXSUITE_DRAIN": "3s", "KITEXSUITE_DRAIN_TIMEOUT": "20s", "KITEXSUITE_EXIT_WAIT": "4s", "KITEXSUITE_TTL": "15s",
		"KITEXSUITE_MEMORY_LIMIT": "268435456", "KITEXSUITE_GOMEMLIMIT_PERCENT": "80",
		// Unset (empty counts as unset), whatever the test's environment has.
		"KITEXSUITE_LISTEN": "", "KITEXSUITE_METRICS_LISTEN": "", "POD_NAMESPACE": "",
	} {
		t.Setenv(k, v)
	}
	c := Config{Service: Orders}
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	c.Flags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Service: Orders, Listen: ":8888", MetricsListen: ":9090", Registry: "etcd", EtcdEndpoints: "https://etcd-0:2379,https://etcd-1:2379",
		Etcd:      EtcdSecurity{CACert: "/etc/kitexsuite/etcd-tls/ca.crt", Cert: "/etc/kitexsuite/etcd-tls/tls.crt", Key: "/etc/kitexsuite/etcd-tls/tls.key", Username: "orders", Password: "pw"},
		Namespace: "default", Drain: 3 * time.Second, DrainTimeout: 20 * time.Second, ExitWait: 4 * time.Second, TTL: 15 * time.Second,
		MemoryLimit: 268435456, GoMemLimitPercent: 80,
	}
	c.Kubeconfig = "" // whatever the test's environment has
	if c != want {
		t.Errorf("flags from the environment:\n got %+v\nwant %+v", c, want)
	}
	// The password is never a flag, so never a default -help prints.
	if fs.Lookup("etcd-password") != nil {
		t.Error("a -etcd-password flag exists")
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if strings.Contains(help.String(), "pw\"") {
		t.Errorf("-help shows the password:\n%s", help.String())
	}
}

// TestMalformedEnvironmentFailsRun: a variable that does not parse is
// Run's error, before anything starts, naming the variable.
func TestMalformedEnvironmentFailsRun(t *testing.T) {
	for name, value := range map[string]string{
		"KITEXSUITE_MEMORY_LIMIT":       "256Mi", // the downward API gives bytes (divisor 1)
		"KITEXSUITE_GOMEMLIMIT_PERCENT": "ninety",
		"KITEXSUITE_DRAIN":              "2",
		"KITEXSUITE_DRAIN_TIMEOUT":      "soon",
		"KITEXSUITE_EXIT_WAIT":          "5 s",
		"KITEXSUITE_TTL":                "10",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			c := Config{Service: Inventory}
			fs := flag.NewFlagSet("inventory", flag.ContinueOnError)
			c.Flags(fs)
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			err := Run(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), name+"=") {
				t.Errorf("Run: %v, want an error naming %s", err, name)
			}
		})
	}
}

func TestGoMemLimit(t *testing.T) {
	const mi = 1 << 20
	for _, c := range []struct {
		name          string
		limit         int64
		percent       int
		gomemlimitEnv string
		soft          int64
		ok, err       bool
	}{
		{"90% of 256Mi", 256 * mi, 90, "", 241591910, true, false},
		{"100%", 64 * mi, 100, "", 64 * mi, true, false},
		{"no limit", 0, 90, "", 0, false, false},
		{"GOMEMLIMIT set wins", 256 * mi, 90, "200MiB", 0, false, false},
		{"percent 0", 256 * mi, 0, "", 0, false, true},
		{"percent above 100", 256 * mi, 101, "", 0, false, true},
		{"no overflow near the top", 1 << 62, 90, "", (1<<62)/100*90 + 4*90/100, true, false},
	} {
		soft, ok, err := goMemLimit(c.limit, c.percent, c.gomemlimitEnv)
		if soft != c.soft || ok != c.ok || (err != nil) != c.err {
			t.Errorf("%s: goMemLimit(%d, %d, %q) = %d, %v, %v; want %d, %v, error %v", c.name, c.limit, c.percent, c.gomemlimitEnv, soft, ok, err, c.soft, c.ok, c.err)
		}
	}
}

// TestApplyMemoryLimit sets the process' soft memory limit as Run does
// and reads it back from the runtime.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	soft, err := applyMemoryLimit(Config{MemoryLimit: 512 << 20, GoMemLimitPercent: 90}, "")
	if err != nil || soft != 483183820 {
		t.Fatalf("applyMemoryLimit: %d, %v; want 483183820", soft, err)
	}
	if got := debug.SetMemoryLimit(-1); got != soft {
		t.Errorf("runtime soft memory limit %d, want %d", got, soft)
	}
	debug.SetMemoryLimit(before)
	if soft, err := applyMemoryLimit(Config{MemoryLimit: 512 << 20, GoMemLimitPercent: 90}, "100MiB"); soft != 0 || err != nil {
		t.Errorf("with GOMEMLIMIT set: %d, %v; want the limit left alone", soft, err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("with GOMEMLIMIT set the runtime limit changed to %d", got)
	}
}
