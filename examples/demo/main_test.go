package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The demo is the project's main job: check it prints a complete trace
// across the three services, the registry events of the restart, and the
// metrics with the errors it asked for.
func TestDemoPrintsWhatItObserved(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 2*time.Second, false); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"registry: embedded etcd at http://127.0.0.1:",
		"inventory 127.0.0.1:", " joined", "left (lease revoked)", "stopping: deregister, drain 300 ms, close", "orders' resolver follows: inventory = ",
		"GET /order                                   gateway    SERVER",
		"echo.EchoService/Echo", "orders     SERVER", "orders     CLIENT", "inventory  SERVER",
		`msg="orders: handling Echo" trace_id=`,
		"echopb.EchoService/Echo", "biz_error=", "failure(handler_error)=", "failure(INTERNAL)=", "failure(timeout)=1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
}
