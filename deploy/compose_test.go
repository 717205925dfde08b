package deploy

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type composeService struct {
	Image           string   `yaml:"image"`
	Command         []string `yaml:"command"`
	Volumes         []string `yaml:"volumes"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	Healthcheck     *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// composeEnv expands ${X:-default} the way compose does when X is unset.
var composeEnv = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return &c
}

func TestComposeCluster(t *testing.T) {
	c := loadCompose(t)
	want := map[string]string{"c1": "coordinator", "c2": "coordinator", "c3": "coordinator",
		"node1": "node", "node2": "node", "etcd": "", "nats": "", "s3": ""}
	for name, sub := range want {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("compose.yaml has no service %s", name)
			continue
		}
		if !strings.HasSuffix(s.Image, ":local") {
			t.Errorf("%s: image %q is not one of ours (make compose-images)", name, s.Image)
		}
		if sub != "" {
			if len(s.Command) == 0 || s.Command[0] != sub {
				t.Errorf("%s: command %v does not run sanafarm %s", name, s.Command, sub)
			}
			args := []string{"sanafarm"}
			for _, a := range s.Command {
				args = append(args, composeEnv.ReplaceAllString(a, "$1"))
			}
			checkCommandFlags(t, "compose "+name, args)
		}
		if sub != "node" && (s.Healthcheck == nil || len(s.Healthcheck.Test) < 2) {
			t.Errorf("%s has no healthcheck", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, which is not declared", name, src)
			}
		}
	}
	checkComposeDrain(t, c)
	checkRaftPeers(t, c)
}

// checkComposeDrain: compose waits longer than the nodes' drain.
func checkComposeDrain(t *testing.T, c *composeFile) {
	t.Helper()
	for _, name := range []string{"node1", "node2"} {
		s := c.Services[name]
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if err != nil {
			t.Errorf("%s: stop_grace_period %q: %v", name, s.StopGracePeriod, err)
			continue
		}
		for _, a := range s.Command {
			if v, ok := strings.CutPrefix(a, "--drain-timeout="); ok {
				if d, err := time.ParseDuration(v); err != nil || grace <= d {
					t.Errorf("%s: stop_grace_period %v does not outlast --drain-timeout %s", name, grace, v)
				}
			}
		}
	}
}

// checkRaftPeers: the three coordinators bootstrap the same voter set and
// each binds the address the others dial.
func checkRaftPeers(t *testing.T, c *composeFile) {
	t.Helper()
	peers := map[string]bool{}
	for _, name := range []string{"c1", "c2", "c3"} {
		var p, bind, id string
		for _, a := range c.Services[name].Command {
			if v, ok := strings.CutPrefix(a, "--peers="); ok {
				p = v
			}
			if v, ok := strings.CutPrefix(a, "--raft-bind="); ok {
				bind = v
			}
			if v, ok := strings.CutPrefix(a, "--id="); ok {
				id = v
			}
		}
		peers[p] = true
		if !strings.Contains(","+p+",", ","+id+"="+bind+",") {
			t.Errorf("%s: --peers %q does not name %s=%s", name, p, id, bind)
		}
	}
	if len(peers) != 1 {
		t.Errorf("coordinators disagree on --peers: %v", peers)
	}
}

// TestComposeConfig runs `docker compose config` when the docker CLI has
// the compose plugin (it needs no daemon).
func TestComposeConfig(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed: docker compose config not run (the YAML checks of TestComposeCluster ran)")
	}
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Skip("docker CLI has no compose plugin: docker compose config not run (the YAML checks of TestComposeCluster ran)")
	}
	out, err := exec.Command("docker", "compose", "-f", "compose.yaml", "config", "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, out)
	}
}
