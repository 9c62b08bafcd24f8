package doctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sub replaces Old with New in a document's commands.
type Sub struct{ Old, New string }

// Apply rewrites every command's text with subs, in order. A substitution
// that matches no command is an error naming it: the document changed
// and the test must be looked at.
func Apply(cmds []Command, subs []Sub) ([]Command, error) {
	out := append([]Command(nil), cmds...)
	for _, s := range subs {
		n := 0
		for i := range out {
			n += strings.Count(out[i].Text, s.Old)
			out[i].Text = strings.ReplaceAll(out[i].Text, s.Old, s.New)
		}
		if n == 0 {
			return nil, fmt.Errorf("doctest: %q appears in no command (the document changed?)", s.Old)
		}
	}
	return out, nil
}

// Runner executes commands with bash in Dir. Create it with NewRunner and
// Close it.
type Runner struct {
	// Dir is the working directory of every command.
	Dir string
	// Env is the environment of the first command (os.Environ() when
	// nil); what a command exports is kept for the next ones.
	Env []string
	// Timeout bounds one foreground command (default 2 minutes).
	Timeout time.Duration
	// Wait, if set, is called after a background command starts and
	// before the next command runs (poll for what the next one needs).
	Wait func(ctx context.Context, c Command) error
	// Source names the document in errors (e.g. "README.md").
	Source string

	state string // the exported variables, as `export -p` writes them
	pids  string // background pids, one a line
	logs  string
	n     int
	ran   map[int]string // document line → log of the command that started there
}

// NewRunner returns a Runner working in dir; its bookkeeping files live
// in a directory of their own (tmp, created if need be).
func NewRunner(dir, tmp, source string) (*Runner, error) {
	r := &Runner{Dir: dir, Source: source, state: filepath.Join(tmp, "env.sh"), pids: filepath.Join(tmp, "pids"), logs: tmp, ran: map[int]string{}}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(r.state, nil, 0o600); err != nil {
		return nil, err
	}
	return r, nil
}

// CommandError is a command that failed: where, what, and its output.
type CommandError struct {
	Source string
	Line   int
	Text   string
	Output string
	Err    error
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s line %d: %s\n  failed: %v\n  output:\n%s", e.Source, e.Line, e.Text, e.Err, indent(e.Output))
}

func (e *CommandError) Unwrap() error { return e.Err }

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (none)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// Run executes cmds in order and stops at the first that fails (a
// non-zero status, or a Wait error after a background command). Output
// goes to one log file per command; the error carries the failed one's.
func (r *Runner) Run(ctx context.Context, cmds []Command) error {
	for _, c := range cmds {
		out, err := r.run(ctx, c)
		if err == nil && c.Background() && r.Wait != nil {
			err = r.Wait(ctx, c)
			if err != nil {
				b, _ := os.ReadFile(out)
				return &CommandError{Source: r.Source, Line: c.Line, Text: c.Text, Output: string(b), Err: fmt.Errorf("waiting for it: %w", err)}
			}
		}
		if err != nil {
			b, _ := os.ReadFile(out)
			return &CommandError{Source: r.Source, Line: c.Line, Text: c.Text, Output: string(b), Err: err}
		}
	}
	return nil
}

// Output returns what the last command run printed (stdout and stderr).
func (r *Runner) Output() string {
	b, _ := os.ReadFile(r.logPath(r.n))
	return string(b)
}

// OutputAt returns what the command that starts at document line line
// printed (its last run), or "" when none ran there.
func (r *Runner) OutputAt(line int) string {
	p, ok := r.ran[line]
	if !ok {
		return ""
	}
	b, _ := os.ReadFile(p)
	return string(b)
}

func (r *Runner) logPath(n int) string { return filepath.Join(r.logs, fmt.Sprintf("cmd-%03d.log", n)) }

// run runs one command: the exported state first, the command, then the
// exported state written back. A background command's pid is recorded.
func (r *Runner) run(ctx context.Context, c Command) (string, error) {
	r.n++
	logPath := r.logPath(r.n)
	r.ran[c.Line] = logPath
	logf, err := os.Create(logPath)
	if err != nil {
		return logPath, err
	}
	defer logf.Close()
	var script strings.Builder
	script.WriteString("set -eo pipefail\n")
	fmt.Fprintf(&script, "source %q\n", r.state)
	script.WriteString(c.Text + "\n")
	if c.Background() {
		fmt.Fprintf(&script, "echo $! >> %q\n", r.pids)
	}
	fmt.Fprintf(&script, "export -p > %q\n", r.state)
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, "bash", "-c", script.String())
	cmd.Dir = r.Dir
	cmd.Env = r.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	// Files, not pipes: a background process keeps its output open long
	// after bash has exited, and Wait must not wait for it.
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a timeout stops the whole command.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return logPath, fmt.Errorf("still running after %s: %w", timeout, err)
		}
		return logPath, err
	}
	return logPath, nil
}

// Close terminates (SIGTERM: a non-interactive shell starts background
// commands with SIGINT ignored) every background process the commands
// started (by pid: only those), waits up to timeout for them to exit,
// then kills the ones left.
func (r *Runner) Close(timeout time.Duration) error {
	b, err := os.ReadFile(r.pids)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var live []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, syscall.SIGTERM) == nil {
			live = append(live, pid)
		}
	}
	deadline := time.Now().Add(timeout)
	for len(live) > 0 && time.Now().Before(deadline) {
		var still []int
		for _, pid := range live {
			if syscall.Kill(pid, 0) == nil && !zombie(pid) {
				still = append(still, pid)
			}
		}
		live = still
		if len(live) > 0 {
			<-time.After(50 * time.Millisecond) // polling interval
		}
	}
	var errs []error
	for _, pid := range live {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("doctest: kill %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// zombie reports whether pid has exited but not been reaped (its parent,
// a bash that already exited, was this process's child: the kernel
// reparents it to init, which reaps it soon).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
