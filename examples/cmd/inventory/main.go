// Command inventory is the inventory service of the kitexsuite example chain
// (gateway → orders → inventory). Flags default from the environment; see
// chain.Config. SIGTERM deregisters, drains and stops it.
package main

import "github.com/kitexsuite/suite/examples/chain"

func main() { chain.Main(chain.Inventory) }
