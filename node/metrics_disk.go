package node

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/model/hub"
)

// A node whose cache disk fills refuses every new model (diskroom); the
// operator should hear of it before the jobs fail. diskCollector reports,
// at scrape time, the free space of each model cache's disk and what the
// downloads in progress still have to write.
type diskCollector struct {
	m             *Metrics
	free, pending *prometheus.Desc
}

func newDiskCollector(m *Metrics) *diskCollector {
	return &diskCollector{m: m,
		free: prometheus.NewDesc("sanafarm_node_model_cache_free_bytes",
			"Free space of the disk of a model cache (cache=hub: the Hugging Face cache; cache=sanafarm: sana-tiny and mirror downloads); a download must leave 1 GiB of it.",
			[]string{"cache"}, nil),
		pending: prometheus.NewDesc("sanafarm_node_model_downloads_pending_bytes",
			"Bytes the model downloads in progress still have to write.", nil, nil),
	}
}

func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.free
	ch <- c.pending
}

func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.diskMu.Lock()
	resolvers := append([]watchedModels(nil), c.m.resolvers...)
	c.m.diskMu.Unlock()
	free := map[string]int64{}
	var pending int64
	for _, w := range resolvers {
		for name, dir := range w.dirs {
			if n, err := diskroom.Free(dir); err == nil {
				free[name] = n // one resolver per process in practice; the last wins
			}
		}
		pending += w.r.room.Pending()
	}
	for name, n := range free {
		ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(n), name)
	}
	if len(resolvers) > 0 {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
	}
}

// watchModels adds a model resolver whose cache disks the gauges report
// (each once, however many executors share it). Its folders are found
// here, once: the environment they come from does not change, and a
// scrape should only stat them.
func (m *Metrics) watchModels(r *ModelResolver) {
	if m == nil || r == nil {
		return
	}
	m.diskMu.Lock()
	defer m.diskMu.Unlock()
	for _, have := range m.resolvers {
		if have.r == r {
			return
		}
	}
	m.resolvers = append(m.resolvers, watchedModels{r: r, dirs: r.cacheDirs()})
}

// diskWatch is the state of the disk gauges, embedded in Metrics.
type diskWatch struct {
	diskMu    sync.Mutex
	resolvers []watchedModels
}

// watchedModels is a resolver and its cache folders by name.
type watchedModels struct {
	r    *ModelResolver
	dirs map[string]string
}

// cacheDirs are the folders r downloads models into, by name: the Hugging
// Face cache and the sanafarm cache root (either left out when it cannot
// be found).
func (r *ModelResolver) cacheDirs() map[string]string {
	dirs := map[string]string{}
	cache := r.hubConfig().CacheDir
	if cache == "" {
		cache = hub.ConfigFromEnv().CacheDir // as hub.New fills it in
	}
	if cache != "" {
		dirs["hub"] = cache
	}
	if root, err := r.cacheRoot(); err == nil {
		dirs["sanafarm"] = root
	}
	return dirs
}
