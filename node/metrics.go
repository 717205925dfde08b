package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sanafarm/sanafarm/internal/bearer"
	"github.com/sanafarm/sanafarm/internal/metrics"
	"github.com/sanafarm/sanafarm/protocol"
)

// Metrics is a node process's Prometheus registry: shard, stage, denoise
// step and upload durations, images written, remote-call retries and the
// GPU gauges of its agents' telemetry (docs/deploy.md, Metrics). One
// Metrics serves every agent and executor of the process (sanafarm dev
// runs several); a nil *Metrics records nothing.
type Metrics struct {
	reg       *prometheus.Registry
	shard     prometheus.Histogram
	stage     *prometheus.HistogramVec
	step      prometheus.Histogram
	upload    *prometheus.HistogramVec
	images    prometheus.Counter
	shards    *prometheus.CounterVec
	steps     *prometheus.CounterVec
	corrupt   prometheus.Counter // files of cached models found damaged (cacheverify.go)
	retries   *metrics.Retries
	gpuMu     sync.Mutex
	gpuInfos  []func() protocol.NodeInfo // agents' Info, read at scrape time
	diskWatch                            // model cache disks (metrics_disk.go)
}

// Stages of the pipeline observed by sanafarm_node_stage_duration_seconds.
const (
	stageEncode  = "encode"
	stageDenoise = "denoise"
	stageDecode  = "decode"
	stageWrite   = "write"
)

// NewMetrics makes a node registry with the Go and process collectors and
// sanafarm_build_info.
func NewMetrics() *Metrics {
	reg := metrics.NewRegistry()
	// Shards take seconds (sana-tiny on a GPU) to an hour (big shards on a
	// CPU); steps and stages milliseconds to minutes.
	long := prometheus.ExponentialBuckets(0.5, 2, 14)
	short := prometheus.ExponentialBuckets(0.001, 2.5, 14)
	m := &Metrics{reg: reg,
		shard: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sanafarm_node_shard_duration_seconds",
			Help: "Time to generate and write one shard, model load excluded.", Buckets: long}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sanafarm_node_stage_duration_seconds",
			Help:    "Time of one pipeline stage: encode, denoise, decode per batch; write (PNG encoding and storage) per image.",
			Buckets: short}, []string{"stage"}),
		step: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sanafarm_node_denoise_step_duration_seconds",
			Help: "Time of one denoising step of a batch (from the second step on).", Buckets: short}),
		upload: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sanafarm_node_upload_duration_seconds",
			Help:    "Time to store one sample's objects (op=sample) or finish a shard (op=finish: tar, stats).",
			Buckets: short}, []string{"op"}),
		images: prometheus.NewCounter(prometheus.CounterOpts{Name: "sanafarm_node_images_total",
			Help: "Images written, counted as each is stored."}),
		shards: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sanafarm_node_shards_total",
			Help: "Shards executed, by result (done, reused, failed)."}, []string{"result"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sanafarm_node_denoise_steps_total",
			Help: "Denoising steps by how they ran: mode=graph (a replayed CUDA graph, --cuda-graphs) or mode=eager (op by op)."},
			[]string{"mode"}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{Name: "sanafarm_node_model_cache_corrupt_files_total",
			Help: "Files of cached models found damaged after a failed load (removed and fetched again): a disk that loses or flips bytes."}),
	}
	reg.MustRegister(m.collectors()...)
	m.retries = metrics.NewRetries(reg)
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.shard, m.stage, m.step, m.upload, m.images, m.shards, m.steps, m.corrupt,
		newGPUCollector(m), newDiskCollector(m)}
}

// MetricFamilies names every sanafarm_ family a node exports (the Grafana
// dashboard's test checks its queries against them).
func MetricFamilies() []string {
	m := NewMetrics()
	names := metrics.FamilyNames(append(m.collectors(), m.retries.Collectors()...)...)
	return append(names, metrics.BaseFamilies()...)
}

// Registry is the registry Handler serves (tests gather it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Serve serves /metrics on addr until ctx ends; it returns once the
// address is bound, and a bind error. A non-empty token is the bearer
// token a scrape must send (docs/deploy.md, Metrics): the metrics name the
// node's GPUs, jobs' progress and storage errors, which a host shared with
// other people need not show to all of them.
func (m *Metrics) Serve(ctx context.Context, addr, token string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("binding metrics address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", requireBearer(m.Handler(), token))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return ln.Addr(), nil
}

// requireBearer lets through only requests bearing token ("" lets all
// through). A token of 32 random bytes cannot be guessed, so unlike the
// coordinator's API this does not throttle wrong ones.
func requireBearer(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bearer.Match(r.Header.Get("Authorization"), token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sanafarm"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// withRetries makes storage and Hub clients under ctx count their retries.
func (m *Metrics) withRetries(ctx context.Context) context.Context {
	if m == nil {
		return ctx
	}
	return metrics.WithRetries(ctx, m.retries)
}

func (m *Metrics) observeStage(stage string, d time.Duration) {
	if m != nil {
		m.stage.WithLabelValues(stage).Observe(d.Seconds())
	}
}

func (m *Metrics) observeUpload(op string, d time.Duration) {
	if m != nil {
		m.upload.WithLabelValues(op).Observe(d.Seconds())
	}
}

func (m *Metrics) observeShard(d time.Duration) {
	if m != nil {
		m.shard.Observe(d.Seconds())
	}
}

func (m *Metrics) imageWritten() {
	if m != nil {
		m.images.Inc()
	}
}

func (m *Metrics) cacheCorrupt(files int) {
	if m != nil {
		m.corrupt.Add(float64(files))
	}
}

func (m *Metrics) shardDone(result string) {
	if m != nil {
		m.shards.WithLabelValues(result).Inc()
	}
}

// stepModes counts a batch's denoising steps by how they ran.
func (m *Metrics) stepModes(graph, eager int) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues("graph").Add(float64(graph))
	m.steps.WithLabelValues("eager").Add(float64(eager))
}

// stepTimer returns a sana.Request Progress callback body observing the
// time between consecutive steps (the first step's start is not reported).
func (m *Metrics) stepTimer() func() {
	if m == nil {
		return nil
	}
	var last time.Time
	return func() {
		now := time.Now()
		if !last.IsZero() {
			m.step.Observe(now.Sub(last).Seconds())
		}
		last = now
	}
}

// natsRequestFailed counts a failed NATS request: retryable ones (the
// agent tries again: failover, timeouts) as retries, others as failures.
func (m *Metrics) natsRequestFailed(err error) {
	if m == nil {
		return
	}
	if retryable(err) {
		m.retries.Retry(metrics.SystemNATS, natsCause(err))
	} else {
		m.retries.Failure(metrics.SystemNATS, natsCause(err))
	}
}

// natsCause is err's bounded "cause" label.
func natsCause(err error) string {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe) && pe.Code == protocol.CodeNotLeader:
		return metrics.CauseNotLeader
	case errors.As(err, &pe) && pe.Code == protocol.CodeUnavailable:
		return metrics.CauseUnavailable
	case errors.As(err, &pe) && pe.Code == protocol.CodeInternal:
		return metrics.CauseServer
	case errors.As(err, &pe):
		return metrics.CauseClient
	case errors.Is(err, nats.ErrNoResponders):
		return metrics.CauseNoResponder
	case errors.Is(err, nats.ErrTimeout):
		return metrics.CauseTimeout
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected):
		return metrics.CauseNetwork
	}
	if c := metrics.NetCause(err); c != "" {
		return c
	}
	return metrics.CauseOther
}

// watchGPUs adds an agent whose GPUs the gauges report.
func (m *Metrics) watchGPUs(info func() protocol.NodeInfo) {
	if m == nil {
		return
	}
	m.gpuMu.Lock()
	m.gpuInfos = append(m.gpuInfos, info)
	m.gpuMu.Unlock()
}

// gpuCollector reports the agents' latest GPU telemetry (node/telemetry.go)
// at scrape time, one series per GPU index and UUID.
type gpuCollector struct {
	m                                    *Metrics
	memUsed, memTotal, util, temp, power *prometheus.Desc
}

func newGPUCollector(m *Metrics) *gpuCollector {
	return &gpuCollector{m: m,
		memUsed:  gpuDesc("memory_used_bytes", "GPU memory in use (all processes)."),
		memTotal: gpuDesc("memory_total_bytes", "GPU memory in total."),
		util:     gpuDesc("utilization_ratio", "Fraction of the last sample period the GPU was busy (0-1)."),
		temp:     gpuDesc("temperature_celsius", "GPU temperature."),
		power:    gpuDesc("power_watts", "GPU power draw."),
	}
}

func gpuDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("sanafarm_node_gpu_"+name, help, []string{"gpu", "uuid"}, nil)
}

func (c *gpuCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.memUsed, c.memTotal, c.util, c.temp, c.power} {
		ch <- d
	}
}

func (c *gpuCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.gpuMu.Lock()
	infos := append([]func() protocol.NodeInfo(nil), c.m.gpuInfos...)
	c.m.gpuMu.Unlock()
	seen := map[int]bool{} // dev's agents could list one GPU twice
	for _, info := range infos {
		for _, g := range info().GPUs {
			if seen[g.Index] {
				continue
			}
			seen[g.Index] = true
			labels := []string{strconv.Itoa(g.Index), g.UUID}
			used := g.MemoryUsed
			if used == 0 && g.MemoryTotal >= g.MemoryFree {
				used = g.MemoryTotal - g.MemoryFree
			}
			for d, v := range map[*prometheus.Desc]float64{c.memUsed: float64(used),
				c.memTotal: float64(g.MemoryTotal), c.util: g.Utilization / 100,
				c.temp: float64(g.TemperatureC), c.power: g.PowerW} {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
			}
		}
	}
}
