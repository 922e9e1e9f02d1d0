package service

import (
	"net/http"

	"samtrack/internal/metrics"
)

// handleMetrics writes the counters and the job manager's state in the
// Prometheus text format.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	counts := map[State]int{}
	snap := metrics.Jobs{QueueCapacity: s.opts.MaxQueue, Workers: s.opts.MaxParallel, LiveMax: s.opts.MaxLive}
	s.mu.Lock()
	snap.Queued, snap.Busy, snap.LiveRunning = s.queue.Len(), s.running, int(s.liveRunning.Load())
	for _, j := range s.jobs {
		j.mu.Lock()
		counts[j.rec.State]++
		if j.rec.State == StateRunning {
			snap.Running = append(snap.Running, metrics.RunningJob{ID: j.rec.ID, FPS: j.rec.FPS, Live: j.rec.Live, Latency: j.rec.Latency})
		}
		j.mu.Unlock()
	}
	s.mu.Unlock()
	if s.cluster != nil {
		// the workers' jobs: the running records counted above
		snap.Busy, snap.LiveRunning = 0, 0
		for _, r := range snap.Running {
			if r.Live {
				snap.LiveRunning++
			} else {
				snap.Busy++
			}
		}
	}
	for _, st := range States {
		snap.ByState = append(snap.ByState, metrics.StateCount{State: string(st), N: counts[st]})
	}
	snap.StreamsOpen = s.streams.Load()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.Write(w, snap)
	return nil
}
