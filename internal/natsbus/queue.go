package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The file-job work queue: one JetStream stream with work-queue retention (a
// job message is removed once a worker acknowledges it) and one durable pull
// consumer shared by every worker, so each job goes to one worker at a time
// and comes back to another after AckWait when its worker stops answering.
const (
	JobsStream   = "SAMTRACK_JOBS"
	JobsSubject  = "samtrack.jobs.file"
	JobsConsumer = "samtrack-workers"
)

// QueueOptions configures the job queue.
type QueueOptions struct {
	// AckWait is how long a job may go without a sign of life from its
	// worker before another worker gets it (default 30 s).
	AckWait time.Duration
	// MaxDeliver bounds how often one job is handed out (default 10; -1:
	// no bound). Past it the server drops the job silently, so a caller
	// that ends crash-looping jobs itself (as samtrack's workers do, in the
	// job's record) should not bound it.
	MaxDeliver int
}

func (o QueueOptions) withDefaults() QueueOptions {
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	switch {
	case o.MaxDeliver == 0:
		o.MaxDeliver = 10
	case o.MaxDeliver < 0:
		o.MaxDeliver = -1
	}
	return o
}

// Queue is the file-job work queue.
type Queue struct {
	js   jetstream.JetStream
	cons jetstream.Consumer
	opts QueueOptions
}

// JobQueue creates (or opens, updating its settings) the job queue.
func (c *Conn) JobQueue(ctx context.Context, opts QueueOptions) (*Queue, error) {
	opts = opts.withDefaults()
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	stream, err := c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       JobsStream,
		Subjects:   []string{JobsSubject},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Duplicates: time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: job stream %s: %w", JobsStream, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       JobsConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxDeliver:    opts.MaxDeliver,
		MaxAckPending: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: job consumer %s: %w", JobsConsumer, err)
	}
	return &Queue{js: c.JS, cons: cons, opts: opts}, nil
}

// Submit queues a job. id is its job id: submitting the same id again within
// an hour is ignored by the server, so a retried submit cannot queue a job twice.
func (q *Queue) Submit(ctx context.Context, id string, payload []byte) error {
	if id == "" {
		return errors.New("natsbus: a job needs an id")
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := q.js.Publish(ctx, JobsSubject, payload, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("natsbus: queue job %s: %w", id, err)
	}
	return nil
}

// JobHeader names the job of a message queued again (SubmitAgain), whose
// message id is not the job id.
const JobHeader = "Samtrack-Job"

// SubmitAgain queues job id once more, as its retry number n (1, 2, ...): a
// job that ended (failed or canceled) and was asked to run again. Its
// message id is the job id with the retry number, so the duplicate window
// that keeps Submit from queueing a job twice does not drop it, and
// repeating the same retry is still ignored.
func (q *Queue) SubmitAgain(ctx context.Context, id string, n int, payload []byte) error {
	if id == "" || n < 1 {
		return errors.New("natsbus: a job queued again needs an id and a retry number from 1")
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	msg := nats.NewMsg(JobsSubject)
	msg.Data = payload
	msg.Header.Set(JobHeader, id)
	if _, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("%s/retry-%d", id, n))); err != nil {
		return fmt.Errorf("natsbus: queue job %s again: %w", id, err)
	}
	return nil
}

// Delivery is one job handed to this worker.
type Delivery struct {
	msg     jetstream.Msg
	ID      string
	Payload []byte
	// Seq is the message's sequence number in the job stream: a redelivery
	// of the same message has the same Seq, a second message for the same
	// job id (queued again after the duplicate window) has another.
	Seq uint64
	// Attempt is the server's count of this message's deliveries: 1 the
	// first time, more after a worker died or gave it back. It is a hint,
	// not an identity: nats-server 2.9 reports 1 again for a redelivery
	// whose first try met a pull request that was expiring, and counts such
	// a lost try in other cases. Tell a redelivery by Seq.
	Attempt uint64
}

// pollInterval is how long Next waits between two asks for a job.
const pollInterval = 250 * time.Millisecond

// Next waits for the next job, until ctx ends.
//
// It asks with no-wait pulls, which the server answers at once, instead of
// leaving a pull request waiting on the server: nats-server 2.9 can lose a
// redelivery that meets a waiting request as it expires, then hand the job
// out as a first attempt, and even to a second worker while the first
// keeps it alive.
func (q *Queue) Next(ctx context.Context) (*Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := q.cons.FetchNoWait(1)
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil, fmt.Errorf("natsbus: wait for a job: %w", err)
		}
		// Otherwise an error is a disconnection or a restarting server,
		// and the client reconnects.
		if err == nil {
			for msg := range batch.Messages() {
				return newDelivery(msg)
			}
		}
		if !sleepCtx(ctx, pollInterval) {
			return nil, ctx.Err()
		}
	}
}

func newDelivery(msg jetstream.Msg) (*Delivery, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, fmt.Errorf("natsbus: job message metadata: %w", err)
	}
	id := msg.Headers().Get(JobHeader)
	if id == "" {
		id = msg.Headers().Get(jetstream.MsgIDHeader)
	}
	return &Delivery{
		msg:     msg,
		ID:      id,
		Payload: msg.Data(),
		Seq:     meta.Sequence.Stream,
		Attempt: meta.NumDelivered,
	}, nil
}

// KeepAlive tells the server, every interval, that this worker still runs the
// job, until the returned stop is called. interval should be well under the
// queue's AckWait (a third of it is usual).
func (d *Delivery) KeepAlive(interval time.Duration) (stop func()) {
	return tick(interval, func() {
		_ = d.msg.InProgress() // a failure is retried at the next tick
	})
}

// tick runs f every interval on its own goroutine until the returned stop
// is called; stop returns once f no longer runs.
func tick(interval time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Done acknowledges the job: it leaves the queue for good.
func (d *Delivery) Done(ctx context.Context) error {
	if err := d.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("natsbus: acknowledge job %s: %w", d.ID, err)
	}
	return nil
}

// Retry gives the job back, to be handed out again after delay.
func (d *Delivery) Retry(delay time.Duration) error {
	if err := d.msg.NakWithDelay(delay); err != nil {
		return fmt.Errorf("natsbus: give back job %s: %w", d.ID, err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
