// The Echo streams over Kitex's TTHeader streaming (generated with -streamx).
namespace go echottstream

include "echo.thrift"

service EchoService {
    echo.EchoResponse BidiStream(1: echo.EchoRequest req) (streaming.mode="bidirectional")
    echo.EchoResponse ClientStream(1: echo.EchoRequest req) (streaming.mode="client")
    echo.EchoResponse ServerStream(1: echo.EchoRequest req) (streaming.mode="server")
}
