package opentracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
)

func TestUberctxBaggage(t *testing.T) {
	in := propagation.MapCarrier{
		"uberctx-user":   "alice%20smith", // jaeger-client's HTTP header propagator escapes
		"Uberctx-Tenant": "t-1",           // keys are matched in any case, as jaeger-client lowercases
		"uberctx-raw":    "100%",          // does not unescape: taken as it is
		"uberctx-":       "no key",
		"uber-trace-id":  "1:2:0:1",
	}
	w3c, _ := baggage.NewMemberRaw("user", "from-w3c-wins")
	other, _ := baggage.NewMemberRaw("other", "kept")
	bag, _ := baggage.New(w3c, other)
	ctx := UberctxBaggage().Extract(baggage.ContextWithBaggage(context.Background(), bag), in)
	got := baggage.FromContext(ctx)
	want := map[string]string{"user": "from-w3c-wins", "other": "kept", "tenant": "t-1", "raw": "100%"}
	if got.Len() != len(want) {
		t.Fatalf("baggage %s, want %v", got, want)
	}
	for k, v := range want {
		if got.Member(k).Value() != v {
			t.Errorf("%s = %q, want %q", k, got.Member(k).Value(), v)
		}
	}

	out := propagation.MapCarrier{}
	UberctxBaggage().Inject(ctx, out)
	wantOut := map[string]string{"uberctx-user": "from-w3c-wins", "uberctx-other": "kept", "uberctx-tenant": "t-1", "uberctx-raw": "100%25"}
	if len(out) != len(wantOut) {
		t.Fatalf("injected %v, want %v", out, wantOut)
	}
	for k, v := range wantOut {
		if out[k] != v {
			t.Errorf("%s = %q, want %q", k, out[k], v)
		}
	}
	if ctx2 := UberctxBaggage().Extract(context.Background(), propagation.MapCarrier{"uber-trace-id": "x"}); baggage.FromContext(ctx2).Len() != 0 {
		t.Fatal("baggage from no uberctx- field")
	}
}
