package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ProcessSpec is a program the harness runs as a child process.
type ProcessSpec struct {
	Name      string   // how logs and errors name it
	Path      string   // the executable
	Args      []string // its arguments
	Env       []string // its environment, added to the test's own
	Dir       string   // its working directory ("" : the test's)
	Namespace string   // a network namespace to run it in (TestHosts.Namespace), or ""
}

// Process is a running child process: a process group of its own (so a
// signal reaches its children too) that dies with the test binary, its
// output kept for the test's log if the test fails.
type Process struct {
	spec ProcessSpec
	cmd  *exec.Cmd
	log  *lineWriter
	done chan struct{} // closed once the process has exited
	err  error         // its exit status, set before done is closed
}

// StartProcess starts spec; tb's cleanup stops it (SIGTERM, then SIGKILL
// after 15 s) and shows its last output lines if the test failed.
func StartProcess(tb testing.TB, spec ProcessSpec) *Process {
	tb.Helper()
	p, err := NewProcess(tb, spec)
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	return p
}

// NewProcess is StartProcess returning its error, for a process that
// outlives the (sub)test starting it: owner is the test whose end stops it.
func NewProcess(owner testing.TB, spec ProcessSpec) (*Process, error) {
	p, err := startProcess(spec)
	if err != nil {
		return nil, err
	}
	dumpOnFailure(owner, spec.Name, p.log.ring)
	owner.Cleanup(func() { _ = p.Stop(15 * time.Second) })
	return p, nil
}

func startProcess(spec ProcessSpec) (*Process, error) {
	return spawnProcess(spec, &lineWriter{ring: &logRing{}}, append(os.Environ(), spec.Env...))
}

// spawnProcess starts spec with exactly environment env, its output going
// to log (which the servers' harnesses keep across restarts).
func spawnProcess(spec ProcessSpec, log *lineWriter, env []string) (*Process, error) {
	path, args := spec.Path, spec.Args
	if spec.Namespace != "" {
		// ip netns exec enters the namespace and execs the program: same pid.
		path, args = "ip", append([]string{"netns", "exec", spec.Namespace, spec.Path}, spec.Args...)
	}
	fmt.Fprintf(log, "harness: starting %s %s\n", path, strings.Join(args, " "))
	log.sawInUse.Store(false)
	cmd := exec.Command(path, args...)
	cmd.Dir = spec.Dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.WaitDelay = time.Second // stop copying output soon after the exit
	// Own group, so that a signal reaches any child too; SIGKILL if the
	// test binary dies without cleaning up (a test timeout's panic).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Process{spec: spec, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.flush()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// awaitReady calls probe until it succeeds, the process exits or timeout
// passes (every 50 ms: a server offers no event for becoming ready).
func (p *Process) awaitReady(timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		last := probe(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v): %v", p.spec.Name, p.err, last)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v", p.spec.Name, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Output returns the last lines the process wrote.
func (p *Process) Output() string { return p.log.ring.String() }

// Stop sends SIGTERM to the process group and waits for the exit, sending
// SIGKILL after timeout. It returns the exit error unless the process
// exited cleanly on the SIGTERM; stopping an exited process returns its
// exit error again.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exited() { // its pid, and group id, may belong to another process now
		return p.exitErr()
	}
	pgid := -p.cmd.Process.Pid
	start := time.Now()
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		fmt.Fprintf(p.log, "harness: %s exited %s after SIGTERM\n", p.spec.Name, time.Since(start).Round(time.Millisecond))
	case <-timer.C:
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
		fmt.Fprintf(p.log, "harness: %s killed after %s\n", p.spec.Name, timeout)
		return fmt.Errorf("%s ignored SIGTERM for %v: killed", p.spec.Name, timeout)
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL) // any child left in the group
	return p.exitErr()
}

// Kill sends SIGKILL to the process group — no drain, no cleanup, what an
// OOM kill or a lost node does — and waits until the process has exited,
// so the kernel has closed its sockets when Kill returns.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *Process) exitErr() error {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM {
		return nil // a program without a SIGTERM handler
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w", p.spec.Name, p.err)
	}
	return nil
}
