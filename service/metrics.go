package service

import (
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metrics are the server's counters, exposed in the Prometheus text format
// at /metrics.
type metrics struct {
	frames, submitted, reconnects atomic.Int64
	frameHits, frameMisses        atomic.Int64
	embedHits, embedMisses        atomic.Int64
	mu                            sync.Mutex
	requests                      map[reqKey]int64
	durations                     map[string]*durationSum
}

type reqKey struct {
	route string
	code  int
}

type durationSum struct {
	sum   float64
	count int64
}

func newMetrics() *metrics {
	return &metrics{requests: map[reqKey]int64{}, durations: map[string]*durationSum{}}
}

func (m *metrics) request(route string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[reqKey{route, code}]++
	ds := m.durations[route]
	if ds == nil {
		ds = &durationSum{}
		m.durations[route] = ds
	}
	ds.sum += d.Seconds()
	ds.count++
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	var b strings.Builder
	m := s.metrics
	counts := map[State]int{}
	type jobFPS struct {
		id      string
		fps     float64
		live    bool
		latency int
	}
	var running []jobFPS
	s.mu.Lock()
	queued, active, live := s.queue.Len(), s.running, s.liveRunning
	for _, j := range s.jobs {
		j.mu.Lock()
		counts[j.rec.State]++
		if j.rec.State == StateRunning {
			running = append(running, jobFPS{j.rec.ID, j.rec.FPS, j.rec.Live, j.rec.Latency})
		}
		j.mu.Unlock()
	}
	s.mu.Unlock()

	help := func(name, typ, text string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
	}
	help("samtrack_jobs", "gauge", "Jobs by state.")
	for _, st := range States {
		fmt.Fprintf(&b, "samtrack_jobs{state=%q} %d\n", st, counts[st])
	}
	help("samtrack_queue_length", "gauge", "Jobs waiting in the queue.")
	fmt.Fprintf(&b, "samtrack_queue_length %d\n", queued)
	help("samtrack_queue_capacity", "gauge", "Most jobs that may wait.")
	fmt.Fprintf(&b, "samtrack_queue_capacity %d\n", s.opts.MaxQueue)
	help("samtrack_workers_busy", "gauge", "Jobs running now.")
	fmt.Fprintf(&b, "samtrack_workers_busy %d\n", active)
	help("samtrack_workers", "gauge", "Most jobs that run at once.")
	fmt.Fprintf(&b, "samtrack_workers %d\n", s.opts.MaxParallel)
	help("samtrack_live_jobs_running", "gauge", "Live jobs running now.")
	fmt.Fprintf(&b, "samtrack_live_jobs_running %d\n", live)
	help("samtrack_live_jobs_max", "gauge", "Most live jobs that run at once.")
	fmt.Fprintf(&b, "samtrack_live_jobs_max %d\n", s.opts.MaxLive)
	help("samtrack_jobs_submitted_total", "counter", "Jobs accepted since the server started.")
	fmt.Fprintf(&b, "samtrack_jobs_submitted_total %d\n", m.submitted.Load())
	help("samtrack_frames_processed_total", "counter", "Frames tracked (or replayed on resume) since the server started.")
	fmt.Fprintf(&b, "samtrack_frames_processed_total %d\n", m.frames.Load())
	help("samtrack_job_fps", "gauge", "Frames a second of each running job.")
	slices.SortFunc(running, func(a, b jobFPS) int { return strings.Compare(a.id, b.id) })
	total := 0.0
	for _, r := range running {
		fmt.Fprintf(&b, "samtrack_job_fps{job=%q} %s\n", r.id, strconv.FormatFloat(r.fps, 'f', 3, 64))
		total += r.fps
	}
	help("samtrack_job_latency_frames", "gauge", "Frames the stream of each running live job is ahead of its last tracked frame.")
	for _, r := range running {
		if r.live {
			fmt.Fprintf(&b, "samtrack_job_latency_frames{job=%q} %d\n", r.id, r.latency)
		}
	}
	help("samtrack_fps", "gauge", "Frames a second over all running jobs.")
	fmt.Fprintf(&b, "samtrack_fps %s\n", strconv.FormatFloat(total, 'f', 3, 64))
	help("samtrack_live_reconnects_total", "counter", "Live stream reconnections.")
	fmt.Fprintf(&b, "samtrack_live_reconnects_total %d\n", m.reconnects.Load())
	help("samtrack_segment_frame_cache_total", "counter", "Frame lookups of the segment endpoint by result.")
	fmt.Fprintf(&b, "samtrack_segment_frame_cache_total{result=\"hit\"} %d\n", m.frameHits.Load())
	fmt.Fprintf(&b, "samtrack_segment_frame_cache_total{result=\"miss\"} %d\n", m.frameMisses.Load())
	help("samtrack_segment_embedding_cache_total", "counter", "SAM embedding lookups of the segment endpoint by result.")
	fmt.Fprintf(&b, "samtrack_segment_embedding_cache_total{result=\"hit\"} %d\n", m.embedHits.Load())
	fmt.Fprintf(&b, "samtrack_segment_embedding_cache_total{result=\"miss\"} %d\n", m.embedMisses.Load())
	help("samtrack_streams_open", "gauge", "Open event and MJPEG streams.")
	fmt.Fprintf(&b, "samtrack_streams_open %d\n", s.streams.Load())

	m.mu.Lock()
	keys := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b reqKey) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		return a.code - b.code
	})
	help("samtrack_http_requests_total", "counter", "HTTP requests by route and status code.")
	for _, k := range keys {
		fmt.Fprintf(&b, "samtrack_http_requests_total{route=%q,code=\"%d\"} %d\n", k.route, k.code, m.requests[k])
	}
	routes := make([]string, 0, len(m.durations))
	for r := range m.durations {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	help("samtrack_http_request_duration_seconds", "summary", "HTTP request durations by route (streams count until they end).")
	for _, r := range routes {
		d := m.durations[r]
		fmt.Fprintf(&b, "samtrack_http_request_duration_seconds_sum{route=%q} %s\n", r, strconv.FormatFloat(d.sum, 'f', 6, 64))
		fmt.Fprintf(&b, "samtrack_http_request_duration_seconds_count{route=%q} %d\n", r, d.count)
	}
	m.mu.Unlock()
	help("go_goroutines", "gauge", "Goroutines.")
	fmt.Fprintf(&b, "go_goroutines %d\n", runtime.NumGoroutine())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	help("go_memstats_heap_inuse_bytes", "gauge", "Heap bytes in use.")
	fmt.Fprintf(&b, "go_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
	return nil
}
