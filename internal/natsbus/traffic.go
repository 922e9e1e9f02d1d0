package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A running job's traffic between the worker that runs it and `samtrack
// serve`, on core NATS subjects (not stored: a client that was not listening
// missed it, and the job record in the bucket holds the state that matters):
//
//   - samtrack.events.JOB: the job's events (progress, state, object and
//     stream events), the event name in the Samtrack-Event header, its JSON
//     in the body. serve relays them to the job's SSE clients.
//   - samtrack.frames.JOB: the job's newest overlay as JPEG, the frame index
//     in the Samtrack-Frame header. serve relays them to MJPEG clients.
//   - samtrack.control.JOB: requests from serve to the worker that runs the
//     job (cancel it, hand it prompts), answered by that worker.
const (
	EventsSubject  = "samtrack.events."
	FramesSubject  = "samtrack.frames."
	ControlSubject = "samtrack.control."

	eventHeader = "Samtrack-Event"
	frameHeader = "Samtrack-Frame"
)

// ErrNoWorker is returned by Control when no worker runs the job.
var ErrNoWorker = errors.New("natsbus: no worker runs this job")

// PublishEvent sends one of job's events.
func (c *Conn) PublishEvent(job, name string, data []byte) error {
	m := nats.NewMsg(EventsSubject + job)
	m.Header.Set(eventHeader, name)
	m.Data = data
	return c.NC.PublishMsg(m)
}

// PublishFrame sends job's newest overlay JPEG.
func (c *Conn) PublishFrame(job string, index int, jpeg []byte) error {
	m := nats.NewMsg(FramesSubject + job)
	m.Header.Set(frameHeader, strconv.Itoa(index))
	m.Data = jpeg
	return c.NC.PublishMsg(m)
}

// SubscribeEvents calls fn with every job's events until unsubscribe.
func (c *Conn) SubscribeEvents(fn func(job, name string, data []byte)) (unsubscribe func(), err error) {
	sub, err := c.NC.Subscribe(EventsSubject+"*", func(m *nats.Msg) {
		fn(strings.TrimPrefix(m.Subject, EventsSubject), m.Header.Get(eventHeader), m.Data)
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe to job events: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// SubscribeFrames calls fn with every job's overlay frames until unsubscribe.
func (c *Conn) SubscribeFrames(fn func(job string, index int, jpeg []byte)) (unsubscribe func(), err error) {
	sub, err := c.NC.Subscribe(FramesSubject+"*", func(m *nats.Msg) {
		index, err := strconv.Atoi(m.Header.Get(frameHeader))
		if err != nil {
			return
		}
		fn(strings.TrimPrefix(m.Subject, FramesSubject), index, m.Data)
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe to job frames: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// HandleControl answers job's control requests with fn until stop.
func (c *Conn) HandleControl(job string, fn func(req []byte) []byte) (stop func(), err error) {
	sub, err := c.NC.Subscribe(ControlSubject+job, func(m *nats.Msg) {
		_ = m.Respond(fn(m.Data))
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: control subject of job %s: %w", job, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Control sends a request to the worker that runs job and returns its
// answer; ErrNoWorker when none does.
func (c *Conn) Control(ctx context.Context, job string, req []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	m, err := c.NC.RequestWithContext(ctx, ControlSubject+job, req)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, ErrNoWorker
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: control request to the worker of job %s: %w", job, err)
	}
	return m.Data, nil
}

// Watch calls fn with every change to the records after the call (value nil
// for a deleted record), from its own goroutine, until ctx ends. It follows
// the bucket across server restarts.
func (r *Records) Watch(ctx context.Context, fn func(id string, rec []byte)) error {
	w, err := r.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("natsbus: watch the job bucket: %w", err)
	}
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				var val []byte
				if e.Operation() == jetstream.KeyValuePut {
					val = e.Value()
				}
				fn(e.Key(), val)
			}
		}
	}()
	return nil
}
