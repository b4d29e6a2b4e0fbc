package rpcmodel_test

import (
	"testing"

	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/transport"

	"github.com/kitexsuite/suite/rpcmodel"
)

func BenchmarkDerive(b *testing.B) {
	ri := newRI("Echo", true, transport.TTHeaderFramed)
	b.Run("success", func(b *testing.B) {
		b.ReportAllocs()
		var c rpcmodel.Call
		for b.Loop() {
			rpcmodel.Derive(&c, rpcmodel.Client, ri, nil)
		}
	})
	b.Run("timeout", func(b *testing.B) {
		b.ReportAllocs()
		var c rpcmodel.Call
		for b.Loop() {
			rpcmodel.Derive(&c, rpcmodel.Client, ri, kerrors.ErrRPCTimeout)
		}
	})
}

func BenchmarkClassifyError(b *testing.B) {
	err := kerrors.ErrRemoteOrNetwork.WithCause(kerrors.ErrRPCTimeout)
	b.ReportAllocs()
	for b.Loop() {
		_ = rpcmodel.ClassifyError(err)
	}
}
