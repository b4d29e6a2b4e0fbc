package discoverycore

import (
	"fmt"
	"testing"
)

// Each version of each key is logged once; a forgotten key is logged
// again; the set never holds more than its limit, however many distinct
// bad entries come and go.
func TestLogOnce(t *testing.T) {
	var l LogOnce
	l.Limit = 3
	if !l.First("a", "1") || l.First("a", "1") {
		t.Fatal("a@1 must be first once")
	}
	if !l.First("a", "2") {
		t.Fatal("a new version is logged")
	}
	l.Forget("a")
	if !l.First("a", "2") {
		t.Fatal("a forgotten key is logged again")
	}
	for i := 0; i < 10000; i++ {
		l.First(fmt.Sprintf("gone-%d", i), "1")
		if i%7 == 0 {
			l.Forget(fmt.Sprintf("gone-%d", i))
		}
	}
	if n := l.Len(); n > 3 {
		t.Fatalf("remembers %d keys, limit 3", n)
	}
	if len(l.order) > 2*3+1 {
		t.Fatalf("order holds %d keys for a limit of 3", len(l.order))
	}
	if l.First("gone-9999", "1") {
		t.Error("the newest key was forgotten")
	}
}
