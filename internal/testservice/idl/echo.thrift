// Test service used by the suite's own tests, the demo and the benchmarks.
namespace go echo

struct EchoRequest {
    1: string message
    // hops left: a server with a downstream client forwards while hops > 0.
    2: i32 hops
    // action makes the handler misbehave on purpose: "biz_error", "panic", "sleep", "error".
    3: string action
    4: i64 sleep_ms
}

struct EchoResponse {
    1: string message
    // trace_id as seen by each hop's server span, outermost first.
    2: list<string> trace_ids
    // baggage as seen by the last hop.
    3: map<string, string> baggage
}

service EchoService {
    EchoResponse Echo(1: EchoRequest req)
    EchoResponse BidiStream(1: EchoRequest req) (streaming.mode="bidirectional")
    EchoResponse ClientStream(1: EchoRequest req) (streaming.mode="client")
    EchoResponse ServerStream(1: EchoRequest req) (streaming.mode="server")
}
