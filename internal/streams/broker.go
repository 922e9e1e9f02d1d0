// Package streams owns what samtrack serve streams to clients while a job
// runs: each job's Event broker (a bounded history replayed after
// Last-Event-ID, fanned out to subscribers without blocking the job), the
// Server-Sent Events writer, the job's newest tracked frame rendered as an
// overlay JPEG once per frame however many clients watch, and the MJPEG
// (multipart/x-mixed-replace) writer. It knows nothing of HTTP routing,
// authorisation or the job store: the service looks the job up and hands
// its broker or frame here.
package streams

import (
	"encoding/json"
	"sync"
)

// Event is one Server-Sent Event of a job.
type Event struct {
	ID   uint64
	Name string
	Data []byte
}

// Event history and subscriber buffers are bounded: a subscriber that
// falls behind by more than subBuffer events is disconnected (its client
// reconnects with Last-Event-ID and gets the history replayed), and only
// the newest historyMax events are kept for replay.
const (
	historyMax = 512
	subBuffer  = 128
)

// Broker fans a job's events out to its SSE subscribers. Progress events
// are not kept in the history, only the latest one.
type Broker struct {
	mu       sync.Mutex
	seq      uint64
	history  []Event
	progress *Event
	subs     map[chan Event]struct{}
	closed   bool // the job was deleted: no more events
}

// NewBroker returns a broker with no events and no subscribers.
func NewBroker() *Broker { return &Broker{subs: map[chan Event]struct{}{}} }

// Publish sends an Event to every subscriber without blocking.
func (b *Broker) Publish(name string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		raw = []byte(`{}`)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.seq++
	ev := Event{ID: b.seq, Name: name, Data: raw}
	if name == "progress" {
		b.progress = &ev
	} else {
		b.history = append(b.history, ev)
		if len(b.history) > historyMax {
			b.history = append(b.history[:0], b.history[len(b.history)-historyMax:]...)
		}
	}
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
			if name == "progress" {
				continue // a later progress Event supersedes it
			}
			// The subscriber is too slow: drop it; it reconnects and
			// catches up from the history.
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// Subscribe returns the events after lastID still in the history (with the
// latest progress Event), and a channel of the events to come, closed when
// the subscriber is dropped or the job deleted. Call Unsubscribe when done.
func (b *Broker) Subscribe(lastID uint64) ([]Event, chan Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var past []Event
	for _, ev := range b.history {
		if ev.ID > lastID {
			past = append(past, ev)
		}
	}
	if p := b.progress; p != nil && p.ID > lastID {
		// keep the order by id
		i := len(past)
		for i > 0 && past[i-1].ID > p.ID {
			i--
		}
		past = append(past[:i], append([]Event{*p}, past[i:]...)...)
	}
	ch := make(chan Event, subBuffer)
	if b.closed {
		close(ch)
		return past, ch
	}
	b.subs[ch] = struct{}{}
	return past, ch
}

// Unsubscribe ends the subscription of ch.
func (b *Broker) Unsubscribe(ch chan Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[ch]; ok {
		delete(b.subs, ch)
		close(ch)
	}
}

// Close ends every subscription (the job was deleted).
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		close(ch)
	}
	clear(b.subs)
}
