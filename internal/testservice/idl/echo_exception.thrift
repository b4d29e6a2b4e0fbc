// The Echo service with a declared exception, so tests can see how a
// Thrift exception the IDL declares is reported.
namespace go echoexc

exception EchoError {
    1: string reason
}

service EchoService {
    string Echo(1: string message) throws (1: EchoError err)
}
