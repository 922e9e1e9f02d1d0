// Package metrics owns samtrack serve's counters (frames, jobs submitted,
// reconnections, segment cache hits, HTTP requests and their durations by
// route) and writes them, with a snapshot of the job manager's state that
// the caller takes at scrape time, in the Prometheus text exposition
// format. It holds no reference to the server: the service counts into a
// Registry and hands it the snapshot.
package metrics

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds the counters. Make it with New; it is safe for
// concurrent use.
type Registry struct {
	Frames, Submitted, Reconnects atomic.Int64
	FrameHits, FrameMisses        atomic.Int64
	EmbedHits, EmbedMisses        atomic.Int64

	mu        sync.Mutex
	requests  map[reqKey]int64
	durations map[string]*durationSum
}

type reqKey struct {
	route string
	code  int
}

type durationSum struct {
	sum   float64
	count int64
}

// New returns a Registry with every counter at zero.
func New() *Registry {
	return &Registry{requests: map[reqKey]int64{}, durations: map[string]*durationSum{}}
}

// Request counts one HTTP request to route that ended with code after d.
func (m *Registry) Request(route string, code int, d time.Duration) {
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

// Jobs is the job manager's state at scrape time.
type Jobs struct {
	// ByState counts jobs per state, in the order to write them.
	ByState               []StateCount
	Queued, QueueCapacity int
	Busy, Workers         int
	LiveRunning, LiveMax  int
	Running               []RunningJob
	StreamsOpen           int64
}

// StateCount is the number of jobs in one state.
type StateCount struct {
	State string
	N     int
}

// RunningJob is one running job's throughput (and, live, its latency).
type RunningJob struct {
	ID      string
	FPS     float64
	Live    bool
	Latency int
}

// Write writes every metric in the Prometheus text format.
func (m *Registry) Write(w io.Writer, j Jobs) error {
	var b strings.Builder
	writeJobs(&b, j)
	m.writeCounters(&b, j)
	m.writeRequests(&b)
	help(&b, "go_goroutines", "gauge", "Goroutines.")
	fmt.Fprintf(&b, "go_goroutines %d\n", runtime.NumGoroutine())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	help(&b, "go_memstats_heap_inuse_bytes", "gauge", "Heap bytes in use.")
	fmt.Fprintf(&b, "go_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	_, err := io.WriteString(w, b.String())
	return err
}

func help(b *strings.Builder, name, typ, text string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
}

func gauge(b *strings.Builder, name, text string, v int) {
	help(b, name, "gauge", text)
	fmt.Fprintf(b, "%s %d\n", name, v)
}

// writeJobs writes the job manager's gauges and each running job's rate.
func writeJobs(b *strings.Builder, j Jobs) {
	help(b, "samtrack_jobs", "gauge", "Jobs by state.")
	for _, c := range j.ByState {
		fmt.Fprintf(b, "samtrack_jobs{state=%q} %d\n", c.State, c.N)
	}
	gauge(b, "samtrack_queue_length", "Jobs waiting in the queue.", j.Queued)
	gauge(b, "samtrack_queue_capacity", "Most jobs that may wait.", j.QueueCapacity)
	gauge(b, "samtrack_workers_busy", "Jobs running now.", j.Busy)
	gauge(b, "samtrack_workers", "Most jobs that run at once.", j.Workers)
	gauge(b, "samtrack_live_jobs_running", "Live jobs running now.", j.LiveRunning)
	gauge(b, "samtrack_live_jobs_max", "Most live jobs that run at once.", j.LiveMax)
}

// writeCounters writes the counters, the running jobs' rates and the open
// streams.
func (m *Registry) writeCounters(b *strings.Builder, j Jobs) {
	help(b, "samtrack_jobs_submitted_total", "counter", "Jobs accepted since the server started.")
	fmt.Fprintf(b, "samtrack_jobs_submitted_total %d\n", m.Submitted.Load())
	help(b, "samtrack_frames_processed_total", "counter", "Frames tracked (or replayed on resume) since the server started.")
	fmt.Fprintf(b, "samtrack_frames_processed_total %d\n", m.Frames.Load())
	writeRates(b, j.Running)
	help(b, "samtrack_live_reconnects_total", "counter", "Live stream reconnections.")
	fmt.Fprintf(b, "samtrack_live_reconnects_total %d\n", m.Reconnects.Load())
	help(b, "samtrack_segment_frame_cache_total", "counter", "Frame lookups of the segment endpoint by result.")
	fmt.Fprintf(b, "samtrack_segment_frame_cache_total{result=\"hit\"} %d\n", m.FrameHits.Load())
	fmt.Fprintf(b, "samtrack_segment_frame_cache_total{result=\"miss\"} %d\n", m.FrameMisses.Load())
	help(b, "samtrack_segment_embedding_cache_total", "counter", "SAM embedding lookups of the segment endpoint by result.")
	fmt.Fprintf(b, "samtrack_segment_embedding_cache_total{result=\"hit\"} %d\n", m.EmbedHits.Load())
	fmt.Fprintf(b, "samtrack_segment_embedding_cache_total{result=\"miss\"} %d\n", m.EmbedMisses.Load())
	help(b, "samtrack_streams_open", "gauge", "Open event and MJPEG streams.")
	fmt.Fprintf(b, "samtrack_streams_open %d\n", j.StreamsOpen)
}

// writeRates writes each running job's frame rate (sorted by id), each
// live one's latency, and the total rate.
func writeRates(b *strings.Builder, running []RunningJob) {
	running = slices.Clone(running)
	help(b, "samtrack_job_fps", "gauge", "Frames a second of each running job.")
	slices.SortFunc(running, func(a, b RunningJob) int { return strings.Compare(a.ID, b.ID) })
	total := 0.0
	for _, r := range running {
		fmt.Fprintf(b, "samtrack_job_fps{job=%q} %s\n", r.ID, strconv.FormatFloat(r.FPS, 'f', 3, 64))
		total += r.FPS
	}
	help(b, "samtrack_job_latency_frames", "gauge", "Frames the stream of each running live job is ahead of its last tracked frame.")
	for _, r := range running {
		if r.Live {
			fmt.Fprintf(b, "samtrack_job_latency_frames{job=%q} %d\n", r.ID, r.Latency)
		}
	}
	help(b, "samtrack_fps", "gauge", "Frames a second over all running jobs.")
	fmt.Fprintf(b, "samtrack_fps %s\n", strconv.FormatFloat(total, 'f', 3, 64))
}

// writeRequests writes the HTTP request counts and durations by route.
func (m *Registry) writeRequests(b *strings.Builder) {
	m.mu.Lock()
	defer m.mu.Unlock()
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
	help(b, "samtrack_http_requests_total", "counter", "HTTP requests by route and status code.")
	for _, k := range keys {
		fmt.Fprintf(b, "samtrack_http_requests_total{route=%q,code=\"%d\"} %d\n", k.route, k.code, m.requests[k])
	}
	routes := make([]string, 0, len(m.durations))
	for r := range m.durations {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	help(b, "samtrack_http_request_duration_seconds", "summary", "HTTP request durations by route (streams count until they end).")
	for _, r := range routes {
		d := m.durations[r]
		fmt.Fprintf(b, "samtrack_http_request_duration_seconds_sum{route=%q} %s\n", r, strconv.FormatFloat(d.sum, 'f', 6, 64))
		fmt.Fprintf(b, "samtrack_http_request_duration_seconds_count{route=%q} %d\n", r, d.count)
	}
}
