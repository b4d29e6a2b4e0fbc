package main

import (
	"bytes"
	"strings"
	"testing"
)

// The demo is the project's main job: check it prints a complete trace,
// the registry and the drained backend.
func TestDemoPrintsCompleteTrace(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 3); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"frontend   SERVER", "frontend   CLIENT", "backend    SERVER", "client     CLIENT",
		"biz_status=404", "recorded 15 spans in 3 traces",
		"server  echo.EchoService/Echo    frontend       3", "biz_error=1 success=2",
		`msg="handling backend" trace_id=`,
		"discovery: embedded etcd at http://127.0.0.1:", "  backend/127.0.0.1:", "  frontend/127.0.0.1:",
		"stopped: deregistered, resolver saw it gone after",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
}
