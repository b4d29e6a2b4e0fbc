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
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func (a *agentRegistration) name() string { return a.svc.ID }

// Register implements registry.Registry. An ACL refusal, a request the
// agent rejects or an untrusted TLS certificate is returned as an error (a
// *PermissionError names the missing permission); an unreachable agent is logged once and retried in the
// background, forever, as is a registration the agent forgets later.
func (r *Registry) Register(info *registry.Info) error {
	if err := errors.Join(r.cfg.errs...); err != nil {
		return err
	}
	svc, err := registration(info, r.cfg)
	if err != nil {
		return err
	}
	reg := &agentRegistration{svc: svc, done: make(chan struct{})}
	reg.ctx, reg.cancel = context.WithCancel(context.Background())
	r.mu.Lock()
	if _, dup := r.regs[registrationKey(info)]; dup {
		r.mu.Unlock()
		reg.cancel()
		return fmt.Errorf("%w: %s is already registered", ErrInvalidInfo, svc.ID)
	}
	r.regs[registrationKey(info)] = reg
	r.mu.Unlock()

	err = r.register(reg)
	if err != nil && permanent(err) {
		r.mu.Lock()
		delete(r.regs, registrationKey(info))
		r.mu.Unlock()
		reg.cancel()
		return err
	}
	if err != nil {
		klog.Warnf("kitexsuite/consul: registering %s failed, retrying in the background: %v", reg.name(), err)
	}
	go r.keep(reg, err == nil)
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
	var err error
	reg.cancel()
	<-reg.done

	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	err = r.cli.Agent().EnableServiceMaintenanceOpts(svc.ID, "kitexsuite: draining before shutdown", (&api.QueryOptions{}).WithContext(ctx))
	cancel()
	if err != nil {
		klog.Warnf("kitexsuite/consul: could not put %s in maintenance before draining: %v", svc.ID, err)
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

// registrationKey identifies a registration by what Kitex passes to both
// Register and Deregister — the listen address — rather than by the
// advertised address, which can change in between when the listen host is
// unspecified.
func registrationKey(info *registry.Info) string {
	return info.ServiceName + "@" + info.Addr.Network() + ":" + info.Addr.String()
}

func (r *Registry) register(reg *agentRegistration) error {
	ctx, cancel := context.WithTimeout(reg.ctx, requestTimeout)
	defer cancel()
	err := r.cli.Agent().ServiceRegisterOpts(reg.svc, api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx))
	if err != nil {
		return permission(err, "register "+reg.svc.Name, fmt.Sprintf("service:write on %q", reg.svc.Name))
	}
	return nil
}

// keep heartbeats the TTL check (or, with an agent-run check, verifies the
// agent still has the service) and registers again whenever that fails:
// an agent that restarted has forgotten everything, and registering is
// idempotent. Transitions are logged once.
func (r *Registry) keep(reg *agentRegistration, registered bool) {
	defer close(reg.done)
	bo := discoverycore.Backoff{Min: 200 * time.Millisecond, Max: 3 * time.Second}
	failing := !registered
	for {
		if !registered {
			if err := r.register(reg); err != nil {
				if reg.ctx.Err() != nil {
					return
				}
				if !failing {
					klog.Warnf("kitexsuite/consul: registering %s again failed, retrying with backoff: %v", reg.name(), err)
				}
				failing = true
				if !discoverycore.Sleep(reg.ctx, bo.Next()) {
					return
				}
				continue
			}
			if failing {
				klog.Infof("kitexsuite/consul: %s registered again", reg.name())
			}
			registered, failing = true, false
			bo.Reset()
		}
		if !discoverycore.Sleep(reg.ctx, r.cfg.checkInterval) {
			return
		}
		if err := r.confirm(reg); err != nil {
			if reg.ctx.Err() != nil {
				return
			}
			klog.Warnf("kitexsuite/consul: %s: %v; registering again", reg.name(), err)
			registered, failing = false, true
		}
	}
}

// confirm heartbeats the TTL check, or checks the agent still knows the
// service when the agent runs the check itself.
func (r *Registry) confirm(reg *agentRegistration) error {
	ctx, cancel := context.WithTimeout(reg.ctx, requestTimeout)
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
