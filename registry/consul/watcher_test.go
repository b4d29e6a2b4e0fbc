package consul

import (
	"slices"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/hashicorp/consul/api"
)

// checked is an entry for addr with its own check and serfHealth in the
// given states.
// given states (a critical own check says "TTL expired", as an expired
// one does).
func checked(addr, own, node string) *api.ServiceEntry {
	e := entry("echo:"+addr, addr, 8888, nil, nil)
	out := ""
	if own == api.HealthCritical {
		out = "TTL expired"
	}
	e.Checks = api.HealthChecks{
		{CheckID: "serfHealth", Status: node},
		{CheckID: "service:echo:" + addr, ServiceID: "echo:" + addr, Status: own, Output: out},
	}
	return e
}

// A client agent restarted with its data dir restores its services with
// their TTL checks critical and no output until the next heartbeat: kept,
// not dropped; the maintenance mode Deregister sets is not mistaken for it.
func TestRestoredChecksAreKept(t *testing.T) {
	s := &source{cfg: newConfig(nil)}
	st := &targetState{}
	t0 := time.Now()
	const p = api.HealthPassing
	a, b := "10.0.0.1", "10.0.0.2"
	apply(s, st, false, t0, checked(a, p, p), checked(b, p, p))
	restored := checked(a, p, p)
	restored.Checks[1].Status = api.HealthCritical // output ""
	maint := checked(b, p, p)
	maint.Checks = append(maint.Checks, &api.HealthCheck{CheckID: "_service_maintenance:echo:" + b, ServiceID: "echo:" + b, Status: api.HealthCritical, Output: ""})
	if got := apply(s, st, false, t0.Add(time.Second), restored, maint); !slices.Equal(got, []string{a + ":8888"}) {
		t.Fatalf("restored check and maintenance: %v, want the restored one kept, the one in maintenance gone", got)
	}
}

func addrsOf(set []discovery.Instance) []string {
	var out []string
	for _, ins := range set {
		out = append(out, ins.Address().String())
	}
	slices.Sort(out)
	return out
}

// apply runs one answer through Watch's own step.
func apply(s *source, st *targetState, reset bool, now time.Time, entries ...*api.ServiceEntry) []string {
	return addrsOf(s.apply("echo", st, entries, reset, now))
}

// ours is an entry registered by this module's registry (it writes the
// start time in service meta).
func ours(e *api.ServiceEntry) *api.ServiceEntry {
	e.Service.Meta = map[string]string{metaStarted: "2026-12-04T00:00:00Z"}
	return e
}

// An instance of ours that vanishes under a healthy node was forgotten by
// its agent (a restart without a data dir, too quick for serfHealth to
// fail): kept. A kitex-contrib registry-consul instance doing the same was
// deregistered by its server (registry-consul sets no maintenance first):
// it leaves at once.
func TestForgottenInstancesOfOursAreKept(t *testing.T) {
	s := &source{cfg: newConfig(nil)}
	st := &targetState{}
	t0 := time.Now()
	const p = api.HealthPassing
	mine, theirs := "10.0.0.1", "10.0.0.2"
	apply(s, st, false, t0, ours(checked(mine, p, p)), checked(theirs, p, p))
	if got := apply(s, st, false, t0.Add(time.Second)); !slices.Equal(got, []string{mine + ":8888"}) {
		t.Fatalf("both vanished under healthy nodes: %v, want only ours kept", got)
	}
	if got := apply(s, st, false, t0.Add(2*time.Second), checked(mine, p, p)); !slices.Equal(got, []string{mine + ":8888"}) {
		t.Fatalf("registered again: %v", got)
	}
}

// A client agent restarting without its data dir: its node goes critical,
// then its services vanish (the index moving forward), then the registry
// registers them again. The instances are kept throughout, for the settle
// period; one whose own check fails, and one deregistered while its node
// is healthy, leave at once.
func TestAgentRestartKeepsInstancesOwnFailuresLeave(t *testing.T) {
	s := &source{cfg: newConfig(nil)}
	st := &targetState{}
	t0 := time.Now()
	const p, c = api.HealthPassing, api.HealthCritical
	a, b, d := "10.0.0.1", "10.0.0.2", "10.0.0.3"
	if got := apply(s, st, false, t0, checked(a, p, p), checked(b, p, p), checked(d, p, p)); len(got) != 3 {
		t.Fatalf("all passing: %v", got)
	}
	// a's agent goes down; b's own check goes critical; d is deregistered.
	if got := apply(s, st, false, t0.Add(time.Second), checked(a, p, c), checked(b, c, p)); !slices.Equal(got, []string{a + ":8888"}) {
		t.Fatalf("agent down, own failure, deregistered: %v, want only the instance behind the restarting agent", got)
	}
	// a's services vanish: the restarted agent forgot them.
	if got := apply(s, st, false, t0.Add(2*time.Second)); !slices.Equal(got, []string{a + ":8888"}) {
		t.Fatalf("vanished after its agent restarted: %v, want it kept", got)
	}
	// Still gone past the settle period: it leaves.
	if got := apply(s, st, false, t0.Add(time.Second+DefaultResetSettle+time.Millisecond)); len(got) != 0 {
		t.Fatalf("past the settle period: %v, want none", got)
	}
}

// The same server listed through two agents (registered again on another
// agent after a reconnect) is one instance.
func TestDecodeDedupesByAddress(t *testing.T) {
	s := &source{cfg: newConfig(nil)}
	one, two := checked("10.0.0.1", api.HealthPassing, api.HealthPassing), checked("10.0.0.1", api.HealthPassing, api.HealthCritical)
	passing, nodeDown, _, _ := s.decode([]*api.ServiceEntry{one, one, two})
	if len(passing) != 1 || len(nodeDown) != 0 {
		t.Fatalf("passing %v, nodeDown %v; want the address once, passing", addrsOf(passing), nodeDown)
	}
}

// An index that goes back in a leader's answer keeps every missing
// instance; the stale-read case is Watch's (LastContact > 0 is no reset).
func TestResetKeepsMissingInstances(t *testing.T) {
	s := &source{cfg: newConfig(nil)}
	st := &targetState{}
	t0 := time.Now()
	apply(s, st, false, t0, checked("10.0.0.1", api.HealthPassing, api.HealthPassing))
	if got := apply(s, st, true, t0.Add(time.Second)); len(got) != 1 {
		t.Fatalf("after a reset: %v, want the instance kept", got)
	}
	if got := apply(s, st, false, t0.Add(time.Second)); len(got) != 1 {
		t.Fatalf("a later answer within the settle period: %v, want the instance kept", got)
	}
}
