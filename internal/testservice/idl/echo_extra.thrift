// The Echo service as a newer client knows it: one method more than the
// servers implement, so tests can call a method the server does not define.
namespace go echoextra

include "echo.thrift"

service EchoService {
    echo.EchoResponse Echo(1: echo.EchoRequest req)
    echo.EchoResponse Missing(1: echo.EchoRequest req)
}
