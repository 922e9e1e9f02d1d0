package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"samtrack/internal/natsbus"
)

// A running job is taken over only when the message its worker claimed it
// with comes back; another message for the same job is a duplicate, however
// the server counted its deliveries (nats-server 2.9 can report a
// redelivery as attempt 1).
func TestRedelivered(t *testing.T) {
	for _, c := range []struct {
		name     string
		queueSeq uint64
		seq      uint64
		attempt  uint64
		want     bool
	}{
		{"same message, counted as a redelivery", 7, 7, 2, true},
		{"same message, under-counted by the server", 7, 7, 1, true},
		{"another message for the job", 7, 9, 1, false},
		{"another message, redelivered itself", 7, 9, 3, false},
		{"record without a message, first delivery", 0, 9, 1, false},
		{"record without a message, redelivery", 0, 9, 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &jobRecord{State: StateRunning, QueueSeq: c.queueSeq}
			d := &natsbus.Delivery{ID: "j", Seq: c.seq, Attempt: c.attempt}
			if got := redelivered(r, d); got != c.want {
				t.Fatalf("redelivered = %v, want %v", got, c.want)
			}
		})
	}
}

// TestWorkerFailsCrashLoopingJob: a file job whose worker dies every time
// it claims it (its message comes back unacknowledged) is failed with the
// reason once it has lost MaxResumes+1 workers; the queue must not drop it
// first and leave its record saying it runs.
func TestWorkerFailsCrashLoopingJob(t *testing.T) {
	e, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	w, err := NewWorker(WorkerOptions{NATS: natsbus.ClientOptions{URL: e.URL()}, DataDir: t.TempDir(), Name: "w", MaxJobs: 1, MaxResumes: 2, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	rec := &jobRecord{ID: "job-1", Input: "/x.mp4", Source: "/nonexistent/x.mp4", State: StateQueued, Prompts: onePoint(1, 1)}
	if err := w.kv.Put(rec.ID, rec); err != nil {
		t.Fatal(err)
	}
	if err := w.queue.Submit(ctx, rec.ID, nil); err != nil {
		t.Fatal(err)
	}
	claims := 0
	for {
		next, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := w.queue.Next(next)
		cancel()
		if err != nil {
			t.Fatalf("no delivery after %d claims: %v (the queue dropped a job whose record says it runs)", claims, err)
		}
		if _, err := w.claim(d); errors.Is(err, errNotForUs) {
			w.ack(d)
			break
		} else if err != nil {
			t.Fatal(err)
		}
		claims++
		if err := d.Retry(0); err != nil { // the worker dies: the job comes back
			t.Fatal(err)
		}
	}
	recs, _, err := w.kv.All()
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %d, %v", len(recs), err)
	}
	r := recs[0]
	if claims != 3 || r.State != StateFailed || r.Crashes != 3 || !strings.Contains(r.Error, "stopped 3 times") {
		t.Errorf("after %d claims: %s, %d crashes, %q; want 3 claims, failed after 3 crashes", claims, r.State, r.Crashes, r.Error)
	}
}
