package service

import (
	"testing"

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
