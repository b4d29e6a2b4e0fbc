// Command gateway is the gateway service of the kitexsuite example chain
// (gateway → orders → inventory). Flags default from the environment; see
// chain.Config. SIGTERM deregisters, drains and stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kitexsuite/suite/examples/chain"
)

func main() {
	cfg := chain.Config{Service: chain.Gateway}
	cfg.Flags(flag.CommandLine)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := chain.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
