package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	m := New()
	m.Frames.Add(7)
	m.FrameHits.Add(2)
	m.Request("GET /b", 200, 1500*time.Millisecond)
	m.Request("GET /a", 404, time.Second)
	m.Request("GET /a", 200, time.Second)
	var b strings.Builder
	err := m.Write(&b, Jobs{
		ByState: []StateCount{{"queued", 1}, {"running", 2}},
		Queued:  1, QueueCapacity: 8, Busy: 1, Workers: 1, LiveRunning: 1, LiveMax: 4, StreamsOpen: 3,
		Running: []RunningJob{{ID: "b", FPS: 2.5, Live: true, Latency: 4}, {ID: "a", FPS: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	want := []string{
		"samtrack_jobs{state=\"queued\"} 1\nsamtrack_jobs{state=\"running\"} 2\n",
		"samtrack_queue_capacity 8\n",
		"samtrack_frames_processed_total 7\n",
		"samtrack_job_fps{job=\"a\"} 1.000\nsamtrack_job_fps{job=\"b\"} 2.500\n",
		"# TYPE samtrack_job_latency_frames gauge\nsamtrack_job_latency_frames{job=\"b\"} 4\n",
		"samtrack_fps 3.500\n",
		"samtrack_segment_frame_cache_total{result=\"hit\"} 2\n",
		"samtrack_streams_open 3\n",
		"samtrack_http_requests_total{route=\"GET /a\",code=\"200\"} 1\nsamtrack_http_requests_total{route=\"GET /a\",code=\"404\"} 1\nsamtrack_http_requests_total{route=\"GET /b\",code=\"200\"} 1\n",
		"samtrack_http_request_duration_seconds_sum{route=\"GET /a\"} 2.000000\nsamtrack_http_request_duration_seconds_count{route=\"GET /a\"} 2\n",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(out, w)
		if i < 0 {
			t.Fatalf("metrics lack %q:\n%s", w, out)
		}
		if i < last {
			t.Errorf("%q is out of order:\n%s", w, out)
		}
		last = i
	}
}
