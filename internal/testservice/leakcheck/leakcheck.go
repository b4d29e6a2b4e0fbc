// Package leakcheck gives the goroutine-leak checks of the packages that
// run real Kitex servers and clients one set of goleak options. It is its
// own package so that only tests import goleak: the example binaries use
// package testservice too.
package leakcheck

import (
	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/internal/testservice"
)

// KitexOptions are goleak options ignoring exactly the goroutines Kitex
// keeps for the life of the process (testservice.KitexBackgroundGoroutines
// and KitexBackgroundStacks), so a leak of ours is still caught.
func KitexOptions() []goleak.Option {
	var opts []goleak.Option
	for _, fn := range testservice.KitexBackgroundGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	for _, fn := range testservice.KitexBackgroundStacks {
		opts = append(opts, goleak.IgnoreAnyFunction(fn))
	}
	return opts
}
