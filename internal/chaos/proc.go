package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/syncbuf"
)

// Proc is one farm process: started from a fixed command line, it can be
// killed, frozen, resumed and started again with the same arguments (and
// so the same ports and data directories).
type Proc struct {
	Name string
	args []string
	env  []string
	log  *syncbuf.Buffer // its output across restarts

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProc starts name with args and env (added to PATH, HOME and
// TMPDIR of this process); it is killed when the test ends.
func StartProc(t testing.TB, name string, args, env []string) *Proc {
	t.Helper()
	p := &Proc{Name: name, args: args, log: &syncbuf.Buffer{}}
	p.env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}, env...)
	t.Cleanup(func() { keepLog(t, p) }) // runs after the kill below (cleanups run last-in first-out)
	t.Cleanup(func() { p.Kill() })
	if err := p.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// keepLog writes the whole output of a failed test's process to
// $CHAOS_LOGS/<test>/<name>.log, when CHAOS_LOGS is set: the failure
// message shows only each log's end (docs/reliability.md).
func keepLog(t testing.TB, p *Proc) {
	dir := os.Getenv("CHAOS_LOGS")
	if dir == "" || !t.Failed() {
		return
	}
	dir = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("CHAOS_LOGS: %v", err)
		return
	}
	f := filepath.Join(dir, p.Name+".log")
	if err := os.WriteFile(f, []byte(p.log.Tail(1<<30)), 0o644); err != nil {
		t.Logf("CHAOS_LOGS: %v", err)
		return
	}
	t.Logf("the whole log of %s: %s", p.Name, f)
}

// Start starts the process again (an error if it is running).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running() {
		return fmt.Errorf("%s is running", p.Name)
	}
	fmt.Fprintf(p.log, "---- chaos: start %s at %s\n", p.Name, time.Now().Format(time.TimeOnly))
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.log, p.log
	// Own process group: a terminal's Ctrl-C reaches the test only, which
	// then kills what it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func (p *Proc) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running()
}

// Kill sends SIGKILL (after SIGCONT, in case it is frozen) and waits for
// the exit. Killing a stopped process is no error.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	alive := p.running()
	p.mu.Unlock()
	if !alive {
		return
	}
	fmt.Fprintf(p.log, "---- chaos: SIGKILL %s at %s\n", p.Name, time.Now().Format(time.TimeOnly))
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Process.Signal(syscall.SIGCONT)
	<-done
}

// Stop sends SIGTERM and waits up to grace for a clean exit, then kills.
func (p *Proc) Stop(grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	alive := p.running()
	p.mu.Unlock()
	if !alive {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s still running %v after SIGTERM", p.Name, grace)
	}
}

// Freeze sends SIGSTOP; Thaw sends SIGCONT.
func (p *Proc) Freeze() error { return p.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen process.
func (p *Proc) Thaw() error { return p.signal(syscall.SIGCONT) }

func (p *Proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return fmt.Errorf("%s: %v: not running", p.Name, sig)
	}
	fmt.Fprintf(p.log, "---- chaos: %v %s at %s\n", sig, p.Name, time.Now().Format(time.TimeOnly))
	return p.cmd.Process.Signal(sig)
}

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil || p.running() {
		return false, nil
	}
	if p.err == nil {
		return true, errors.New("exited with status 0")
	}
	return true, p.err
}

// LogsSince returns the output after the last line containing marker
// (such as "SIGCONT"), at most n bytes of its end.
func (p *Proc) LogsSince(marker string, n int) string {
	s := p.log.Tail(1 << 20)
	if i := strings.LastIndex(s, marker); i >= 0 {
		s = s[i:]
	}
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// Logs returns the end of the process's output (all its runs).
func (p *Proc) Logs() string { return "==== " + p.Name + " log:\n" + p.log.Tail(6000) }
