// Package metrics holds what every sanafarm component exports to
// Prometheus besides its own families: the Go and process collectors,
// sanafarm_build_info, and the retry counters of remote calls (S3, the
// Hub, NATS), which storage and model/hub report through the context
// (WithRetries) so that neither keeps global state. Each component owns
// its registry (docs/deploy.md, Metrics).
package metrics

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go and process collectors and
// sanafarm_build_info already registered.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	version, revision := Build()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sanafarm_build_info",
		Help: "Always 1; the labels name the running binary's version, Go version and VCS revision."},
		[]string{"version", "goversion", "revision"})
	info.WithLabelValues(version, runtime.Version(), revision).Set(1)
	reg.MustRegister(info)
	return reg
}

// Build returns the binary's version (the module version, else the first
// 12 digits of its VCS revision, else "dev") and its full VCS revision
// ("unknown" when not recorded), from the build info the Go toolchain
// embeds (no ldflags needed).
func Build() (version, revision string) {
	version, revision = "dev", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, revision
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			revision = s.Value
			version = s.Value[:min(12, len(s.Value))]
		}
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		version = v
	}
	return version, revision
}

// BaseFamilies names the sanafarm_ families NewRegistry registers.
func BaseFamilies() []string { return []string{"sanafarm_build_info"} }

// FamilyNames names the families the collectors describe (parsed from
// each Desc's String, the only place client_golang exposes the name).
func FamilyNames(cs ...prometheus.Collector) []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range cs {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		s := d.String()
		const key = `fqName: "`
		if i := strings.Index(s, key); i >= 0 {
			rest := s[i+len(key):]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				names = append(names, rest[:j])
			}
		}
	}
	return names
}
