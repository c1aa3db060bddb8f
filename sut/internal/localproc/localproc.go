// Package localproc runs a cluster's members as processes on this machine,
// beside the caller: what `squall bench` measures, with no container
// between a client and a node. Each member writes its stderr to a log file
// in the cluster's directory, and the kernel kills the members if the
// caller dies first.
package localproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// Member is one member's name and command line (program excluded).
type Member struct {
	Name string
	Args []string
}

// Group is the running members of one cluster.
type Group struct {
	dir   string
	procs []*process
}

type process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs each member as binary with its arguments, in dir (created if
// missing), its stderr in dir/NAME.log. If one cannot start, those already
// started are killed.
func Start(binary, dir string, members []Member) (*Group, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster directory: %w", err)
	}
	g := &Group{dir: dir}
	for _, m := range members {
		if err := g.start(binary, m); err != nil {
			g.Stop()
			return nil, err
		}
	}
	return g, nil
}

func (g *Group) start(binary string, m Member) error {
	logFile, err := os.Create(g.logPath(m.Name))
	if err != nil {
		return fmt.Errorf("member %s: %w", m.Name, err)
	}
	cmd := exec.Command(binary, m.Args...)
	cmd.Dir = g.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// A member must not outlive the process that measures it, even one
	// killed with SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start member %s (%s): %w", m.Name, binary, err)
	}
	p := &process{name: m.Name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait() // the exit status is read from cmd.ProcessState
		logFile.Close()
		close(p.exited)
	}()
	g.procs = append(g.procs, p)
	return nil
}

func (g *Group) logPath(name string) string { return filepath.Join(g.dir, name+".log") }

// PIDs are the members' process IDs, in the order they were given.
func (g *Group) PIDs() []int {
	pids := make([]int, len(g.procs))
	for i, p := range g.procs {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}

// Exited is an error naming each member that is no longer running, with
// its exit status and the end of its log; nil while all run.
func (g *Group) Exited() error {
	var errs []error
	for _, p := range g.procs {
		select {
		case <-p.exited:
			errs = append(errs, fmt.Errorf("member %s exited (%v); the end of %s:\n%s",
				p.name, p.cmd.ProcessState, g.logPath(p.name), g.logTail(p.name, 2048)))
		default:
		}
	}
	return errors.Join(errs...)
}

func (g *Group) logTail(name string, n int) string {
	b, err := os.ReadFile(g.logPath(name))
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Stop kills every member and waits until each is gone.
func (g *Group) Stop() {
	for _, p := range g.procs {
		p.cmd.Process.Kill()
	}
	for _, p := range g.procs {
		<-p.exited
	}
}
