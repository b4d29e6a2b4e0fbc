package rpcmodel

import (
	"reflect"
	"sync"

	"github.com/cloudwego/kitex/pkg/rpcinfo"
)

// exceptionKey is the invocation extra under which MarkException records a
// declared exception.
const exceptionKey = "kitexsuite.declared_exception"

// MarkException records, in the call's invocation, a Thrift exception the
// IDL declares that the call ended with. Kitex carries such an exception in
// the result struct as a successful call (the handler's error becomes a
// result field, the client returns it from the generated method), so no
// tracer sees it; a Suite's middleware calls this with the result after the
// handler (server) or the attempt (client), and Derive then reports the
// call as a [Failure] with ErrorType [ErrorTypeException]. It costs a type
// assertion when the result holds a success; calling it twice is harmless.
func MarkException(ri rpcinfo.RPCInfo, result any) {
	if ri == nil || result == nil {
		return
	}
	if r, ok := result.(interface{ IsSetSuccess() bool }); ok && r.IsSetSuccess() {
		return
	}
	exc := declaredException(result)
	if exc == nil {
		return
	}
	if setter, ok := ri.Invocation().(rpcinfo.InvocationSetter); ok {
		setter.SetExtra(exceptionKey, exc)
	}
}

// exceptionOf returns the exception MarkException recorded, or nil.
func exceptionOf(inv rpcinfo.Invocation) error {
	err, _ := inv.Extra(exceptionKey).(error)
	return err
}

var errorType = reflect.TypeOf((*error)(nil)).Elem()

// exceptionFields caches, per result struct type, the indices of its
// exception fields: pointer fields other than Success whose type is an
// error (Kitex's generated results hold declared exceptions so).
var exceptionFields sync.Map // reflect.Type -> []int

func declaredException(result any) error {
	v := reflect.ValueOf(result)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	v = v.Elem()
	t := v.Type()
	idx, ok := exceptionFields.Load(t)
	if !ok {
		var fields []int
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.IsExported() && f.Name != "Success" && f.Type.Kind() == reflect.Pointer && f.Type.Implements(errorType) {
				fields = append(fields, i)
			}
		}
		idx, _ = exceptionFields.LoadOrStore(t, fields)
	}
	for _, i := range idx.([]int) {
		if f := v.Field(i); !f.IsNil() {
			return f.Interface().(error)
		}
	}
	return nil
}
