package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// unit is a parsed systemd unit file: section → key → values (a key may
// repeat, e.g. EnvironmentFile).
type unit map[string]map[string][]string

// parseUnit reads systemd's unit syntax: [Section] headers, Key=Value
// lines, # and ; comments, backslash continuations. Anything else is an
// error.
func parseUnit(text string) (unit, error) {
	u := unit{}
	var section, pending string
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line, pending = pending+" "+line, ""
		}
		if strings.HasSuffix(line, "\\") {
			pending = strings.TrimSuffix(line, "\\")
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || !regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`).MatchString(k) {
				return nil, fmt.Errorf("line %d: %q is not Key=Value inside a section", n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if pending != "" {
		return nil, fmt.Errorf("unterminated continuation line")
	}
	return u, nil
}

// get returns the last value of section/key ("" if unset).
func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func readUnit(t *testing.T, name string) (unit, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(systemdDir, name))
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u, string(b)
}

var allUnits = []string{"sanafarm-coordinator.service", "sanafarm-node.service", "sanafarm-etcd-auth.service", "etcd.service", "nats-server.service"}

func TestSystemdUnitsPolicy(t *testing.T) {
	want := map[string]string{"Restart": "on-failure", "KillSignal": "SIGTERM", "NoNewPrivileges": "yes",
		"ProtectSystem": "strict", "PrivateTmp": "yes", "StandardOutput": "journal", "StandardError": "journal"}
	present := []string{"User", "RestartSec", "LimitNOFILE", "MemoryMax", "TasksMax", "TimeoutStopSec", "ExecStart"}
	for _, name := range allUnits {
		t.Run(name, func(t *testing.T) {
			u, _ := readUnit(t, name)
			for _, s := range []string{"Unit", "Service", "Install"} {
				if u[s] == nil {
					t.Errorf("no [%s] section", s)
				}
			}
			for k, v := range want {
				if got := u.get("Service", k); got != v {
					t.Errorf("%s=%q, want %q", k, got, v)
				}
			}
			for _, k := range present {
				if u.get("Service", k) == "" {
					t.Errorf("%s is not set", k)
				}
			}
			if u.get("Service", "User") == "root" {
				t.Error("runs as root")
			}
			if u.get("Install", "WantedBy") != "multi-user.target" {
				t.Error("not WantedBy=multi-user.target")
			}
		})
	}
}

// TestNodeUnitOutlastsDrain: systemd must not SIGKILL the node before its
// drain (--drain-timeout in ExecStart) is over.
func TestNodeUnitOutlastsDrain(t *testing.T) {
	u, _ := readUnit(t, "sanafarm-node.service")
	m := regexp.MustCompile(`--drain-timeout (\S+)`).FindStringSubmatch(u.get("Service", "ExecStart"))
	if m == nil {
		t.Fatal("ExecStart has no --drain-timeout")
	}
	drain, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	stop, err := systemdDuration(u.get("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if stop < drain+30*time.Second {
		t.Errorf("TimeoutStopSec %v leaves less than 30 s after the %v drain", stop, drain)
	}
}

// systemdDuration reads the time spans the units use: "90", "30s", "6min".
func systemdDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "min"); ok {
		s = n + "m"
	} else if _, err := fmt.Sscanf(s, "%d", new(int)); err == nil && !strings.ContainsAny(s, "smh") {
		s += "s"
	}
	return time.ParseDuration(s)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sanafarmBinary builds cmd/sanafarm once for the package's tests.
func sanafarmBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sanafarm-deploy-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sanafarm")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/sanafarm/sanafarm/cmd/sanafarm")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// helpFlags returns the long flags `sanafarm <cmd> --help` lists.
func helpFlags(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	out, err := exec.Command(sanafarmBinary(t), cmd, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("sanafarm %s --help: %v\n%s", cmd, err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 3 {
		t.Fatalf("sanafarm %s --help: found only %v", cmd, flags)
	}
	return flags
}

// checkCommandFlags fails for a --flag in args that `sanafarm <sub>
// --help` does not list (args[0] is the binary, args[1] the subcommand).
func checkCommandFlags(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) < 2 || filepath.Base(args[0]) != "sanafarm" {
		t.Fatalf("%s: %q does not run sanafarm SUBCOMMAND", where, strings.Join(args, " "))
	}
	flags := helpFlags(t, args[1])
	for _, a := range args[2:] {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if !flags[name] {
			t.Errorf("%s: sanafarm %s has no flag --%s", where, args[1], name)
		}
	}
}

// TestUnitFlagsExist: every flag the sanafarm units pass exists.
func TestUnitFlagsExist(t *testing.T) {
	for _, name := range []string{"sanafarm-coordinator.service", "sanafarm-node.service", "sanafarm-etcd-auth.service"} {
		u, _ := readUnit(t, name)
		checkCommandFlags(t, name, strings.Fields(u.get("Service", "ExecStart")))
	}
}

// envRefs returns the variables ExecStart expands (${X} and $X).
func envRefs(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\$\{?([A-Z_][A-Z0-9_]*)\}?`).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// expandExec expands ExecStart the way systemd does for our units: ${X}
// is one argument (empty stays an empty argument), $X splits on spaces.
func expandExec(line string, env map[string]string) []string {
	var out []string
	for _, f := range strings.Fields(line) {
		if m := regexp.MustCompile(`^\$\{([A-Z_][A-Z0-9_]*)\}$`).FindStringSubmatch(f); m != nil {
			out = append(out, env[m[1]])
			continue
		}
		if m := regexp.MustCompile(`^\$([A-Z_][A-Z0-9_]*)$`).FindStringSubmatch(f); m != nil {
			out = append(out, strings.Fields(env[m[1]])...)
			continue
		}
		out = append(out, f)
	}
	return out
}

// parseEnvFile reads KEY=VALUE lines (comments and blanks skipped).
func parseEnvFile(t *testing.T, text string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) {
			t.Errorf("environment file line %q is not KEY=VALUE", line)
			continue
		}
		env[k] = v
	}
	return env
}
