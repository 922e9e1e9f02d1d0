package service

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtrack/internal/natstest"
)

// TestRetryJob: a canceled file job, asked to run again, resumes from the
// frames its outputs hold and finishes with masks byte-identical to
// `samtrack track`; a job that is not failed or canceled, and a live job,
// cannot be retried. The same in one process and on a cluster (external
// nats-server 2.9, one worker process), where the retry must get past the
// work queue's duplicate window, which drops a second message with the
// job's id for an hour.
func TestRetryJob(t *testing.T) {
	needVideos(t)
	cat := abs(t, catMP4)
	ref := trackCLI(t, cat, 300, 170, 0)
	for _, mode := range []string{"single", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			var ts *testServer
			if mode == "single" {
				ts = startServer(t, Options{})
			} else {
				nats := natstest.Start(t)
				ts = clusterServer(t, nats.URL, Options{})
				startWorker(t, nats.URL, ts.data, "a", "--max-live", "0")
			}
			id := ts.createJob(pointJob(cat, 300, 170, map[string]any{"track.overlay": false}))
			if code, body := ts.do("POST", "/api/v1/jobs/"+id+"/retry", nil); code != http.StatusConflict || !strings.Contains(string(body), "only a failed or canceled job") {
				t.Errorf("retry of a queued or running job: %d %s, want 409", code, body)
			}
			ts.waitJob(id, time.Minute, "20 frames", func(v JobView) bool { return v.FramesDone >= 20 || finished(v) })
			if code, body := ts.do("POST", "/api/v1/jobs/"+id+"/cancel", nil); code != http.StatusOK {
				t.Fatalf("cancel: %d %s", code, body)
			}
			v := ts.waitJob(id, time.Minute, "canceled", finished)
			if v.State != StateCanceled || v.FramesDone >= 149 {
				t.Fatalf("after cancel: %s with %d frames; want canceled part-way", v.State, v.FramesDone)
			}
			kept := v.FramesDone
			code, body := ts.do("POST", "/api/v1/jobs/"+id+"/retry", nil)
			if code != http.StatusAccepted {
				t.Fatalf("retry: %d %s", code, body)
			}
			v = ts.waitJob(id, 2*time.Minute, "done after the retry", func(v JobView) bool { return v.State == StateDone || v.State == StateFailed })
			if v.State != StateDone || v.FramesDone != 149 || v.Retries != 1 || v.Resumes < 1 || v.Error != "" {
				t.Fatalf("after the retry: %s, %d frames, %d retries, %d resumes, error %q; want done, 149 frames, 1 retry, resumed",
					v.State, v.FramesDone, v.Retries, v.Resumes, v.Error)
			}
			t.Logf("canceled with %d frames kept; the retry resumed and finished 149", kept)
			sameMasks(t, mode+" job canceled and retried vs samtrack track", ref, readMasks(t, filepath.Join(ts.data, "jobs", id, "out")))
			if code, body := ts.do("POST", "/api/v1/jobs/"+id+"/retry", nil); code != http.StatusConflict {
				t.Errorf("retry of a done job: %d %s, want 409", code, body)
			}
			if code, _ := ts.do("POST", "/api/v1/jobs/nope/retry", nil); code != http.StatusNotFound {
				t.Errorf("retry of an unknown job: %d, want 404", code)
			}
		})
	}
}

// TestRetryRule: which records may run again, and what a retry resets.
func TestRetryRule(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		rec  jobRecord
		ok   bool
	}{
		{"failed file job", jobRecord{State: StateFailed, Error: "disk full", Finished: &now, Crashes: 3, Retries: 1}, true},
		{"canceled removal", jobRecord{State: StateCanceled, Remove: &removeSettings{}}, true},
		{"done", jobRecord{State: StateDone}, false},
		{"running", jobRecord{State: StateRunning}, false},
		{"queued", jobRecord{State: StateQueued}, false},
		{"canceled live job", jobRecord{State: StateCanceled, Live: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rec
			e := retry(&r)
			if (e == nil) != tc.ok {
				t.Fatalf("retry: %v, want ok %v", e, tc.ok)
			}
			if !tc.ok {
				if e.status != http.StatusConflict || r.State != tc.rec.State {
					t.Errorf("refused with %d, state %s; want 409 and the record unchanged", e.status, r.State)
				}
				return
			}
			if r.State != StateQueued || r.Error != "" || r.Finished != nil || r.Crashes != 0 || r.Retries != tc.rec.Retries+1 {
				t.Errorf("after retry: %+v", r)
			}
		})
	}
}
