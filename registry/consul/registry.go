package consul

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/hashicorp/consul/api"

	"github.com/kitexsuite/suite/discoverycore"
)

// Registry is a Kitex registry.Registry (for server.WithRegistry) that
// registers each server with the local Consul agent, keeps its check
// passing, registers it again whenever the agent has forgotten it, and
// drains on Deregister.
type Registry struct {
	cli *api.Client
	cfg config

	mu   sync.Mutex
	regs map[string]*agentRegistration // by registrationKey
}

var _ registry.Registry = (*Registry)(nil)

// NewRegistry returns a registry writing through cli. The ACL token, TLS
// and address are configured on cli (api.Config), not here.
//
// A nil client panics here, at once, with a message saying so: a
// programmer error caught at startup, never a nil dereference later in a
// background goroutine.
func NewRegistry(cli *api.Client, opts ...Option) *Registry {
	if cli == nil {
		panic("kitexsuite/registry/consul: NewRegistry needs an *api.Client, got nil")
	}
	return &Registry{cli: cli, cfg: newConfig(opts), regs: map[string]*agentRegistration{}}
}

type agentRegistration struct {
	svc    *api.AgentServiceRegistration
	keeper *discoverycore.Keeper
}

func (a *agentRegistration) name() string { return a.svc.ID }

// Register implements registry.Registry. The registration is held by
// discoverycore.Keep, the failure policy all three registries share: an
// ACL refusal, a request the agent rejects or an untrusted TLS
// certificate is returned as an error (wrapping discoverycore.ErrPermanent;
// a *PermissionError names the missing permission); an unreachable agent is
// logged once and retried in the background, forever, as is a registration
// the agent forgets later.
func (r *Registry) Register(info *registry.Info) error {
	if err := errors.Join(r.cfg.errs...); err != nil {
		return err
	}
	svc, err := registration(info, r.cfg)
	if err != nil {
		return err
	}
	reg := &agentRegistration{svc: svc}
	key := registrationKey(info)
	r.mu.Lock()
	if _, dup := r.regs[key]; dup {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s is already registered", ErrInvalidInfo, svc.ID)
	}
	r.regs[key] = reg
	r.mu.Unlock()

	reg.keeper, err = discoverycore.Keep(discoverycore.KeepConfig{
		System: "consul", Service: svc.Name, Name: svc.ID, Stable: r.cfg.ttl, Options: r.cfg.core,
	}, func(ctx context.Context) (func() error, error) { return r.register(ctx, reg) })
	if err != nil {
		r.mu.Lock()
		delete(r.regs, key)
		r.mu.Unlock()
		return err
	}
	return nil
}

// Deregister implements registry.Registry: it stops keeping the
// registration, puts the service in maintenance so it leaves the passing
// set at once, waits the drain delay so clients stop sending, then removes
// it from the agent.
func (r *Registry) Deregister(info *registry.Info) error {
	if info == nil || info.Addr == nil {
		return fmt.Errorf("%w: need a service name and an address", ErrInvalidInfo)
	}
	r.mu.Lock()
	reg := r.regs[registrationKey(info)]
	delete(r.regs, registrationKey(info))
	r.mu.Unlock()
	if reg == nil {
		return fmt.Errorf("%w: %s at %s is not registered", ErrInvalidInfo, info.ServiceName, info.Addr)
	}
	svc := reg.svc // as registered, whatever the advertised address is now
	reg.keeper.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	err := r.cli.Agent().EnableServiceMaintenanceOpts(svc.ID, "kitexsuite: draining before shutdown", (&api.QueryOptions{}).WithContext(ctx))
	cancel()
	if err != nil {
		klog.Warnf("kitexsuite/consul: could not put %s in maintenance before draining: %v", svc.ID, err)
	} else if err := r.awaitNotPassing(svc); err != nil {
		klog.Warnf("kitexsuite/consul: draining %s without seeing it leave the passing set: %v", svc.ID, err)
	}
	if r.cfg.drain > 0 {
		time.Sleep(r.cfg.drain) // a deliberate grace period, not synchronisation
	}
	ctx, cancel = context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := r.cli.Agent().ServiceDeregisterOpts(svc.ID, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return permission(fmt.Errorf("kitexsuite/consul: deregister %s: %w", svc.ID, err), "deregister "+svc.Name, fmt.Sprintf("service:write on %q", svc.Name))
	}
	return nil
}

// awaitNotPassing waits (at most confirmTimeout) until the catalog no
// longer lists svc as passing: the agent syncs the maintenance mode to the
// servers on its own schedule, and the drain delay — the time clients get
// to drop the instance — must start from when they can see it, not from
// the local write (on a busy machine the two were over a second apart, and
// calls still arriving when the listener closed failed with "EOF peer
// close").
func (r *Registry) awaitNotPassing(svc *api.AgentServiceRegistration) error {
	ctx, cancel := context.WithTimeout(context.Background(), confirmTimeout)
	defer cancel()
	var index uint64
	for {
		entries, meta, err := r.cli.Health().Service(svc.Name, "", true, (&api.QueryOptions{WaitIndex: index, WaitTime: confirmTimeout}).WithContext(ctx))
		if err != nil {
			return err
		}
		if meta.ResultsFilteredByACLs {
			// The token may not see the nodes, so the answer omits the
			// instance whether or not it still passes: no confirmation.
			return &PermissionError{Op: "confirm the drain of " + svc.Name, Permission: "node:read on this agent's node",
				Err: fmt.Errorf("consul filtered the result by ACLs")}
		}
		listed := false
		for _, e := range entries {
			if e.Service != nil && e.Service.ID == svc.ID {
				listed = true
			}
		}
		if !listed {
			return nil
		}
		index = max(meta.LastIndex, 1)
	}
}

// registrationKey identifies a registration by what Kitex passes to both
// Register and Deregister — the listen address — rather than by the
// advertised address, which can change in between when the listen host is
// unspecified.
func registrationKey(info *registry.Info) string {
	return info.ServiceName + "@" + info.Addr.Network() + ":" + info.Addr.String()
}

// register writes the service to the agent and returns the hold that
// heartbeats its TTL check (or, with an agent-run check, verifies the agent
// still has the service) every check interval until one fails — an agent
// that restarted has forgotten everything, and registering is idempotent.
func (r *Registry) register(ctx context.Context, reg *agentRegistration) (func() error, error) {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err := r.cli.Agent().ServiceRegisterOpts(reg.svc, api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(reqCtx))
	if err != nil {
		err = permission(err, "register "+reg.svc.Name, fmt.Sprintf("service:write on %q", reg.svc.Name))
		if permanent(err) {
			return nil, discoverycore.Permanent(err)
		}
		return nil, err
	}
	return func() error {
		for discoverycore.Sleep(ctx, r.cfg.checkInterval) {
			if err := r.confirm(ctx, reg); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		return nil
	}, nil
}

// confirm heartbeats the TTL check, or checks the agent still knows the
// service when the agent runs the check itself.
func (r *Registry) confirm(ctx context.Context, reg *agentRegistration) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	if r.cfg.check == nil {
		if err := r.cli.Agent().UpdateTTLOpts(reg.svc.Check.CheckID, "", api.HealthPassing, q); err != nil {
			return fmt.Errorf("heartbeat failed: %w", err)
		}
		return nil
	}
	svc, _, err := r.cli.Agent().Service(reg.svc.ID, q)
	if err != nil {
		return fmt.Errorf("agent lookup failed: %w", err)
	}
	if svc == nil {
		return fmt.Errorf("the agent no longer knows the service")
	}
	return nil
}
