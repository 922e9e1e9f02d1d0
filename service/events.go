package service

import (
	"encoding/json"
	"sync"
)

// event is one Server-Sent Event of a job.
type event struct {
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

// broker fans a job's events out to its SSE subscribers. Progress events
// are not kept in the history, only the latest one.
type broker struct {
	mu       sync.Mutex
	seq      uint64
	history  []event
	progress *event
	subs     map[chan event]struct{}
	closed   bool // the job was deleted: no more events
}

func newBroker() *broker { return &broker{subs: map[chan event]struct{}{}} }

// publish sends an event to every subscriber without blocking.
func (b *broker) publish(name string, data any) {
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
	ev := event{ID: b.seq, Name: name, Data: raw}
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
				continue // a later progress event supersedes it
			}
			// The subscriber is too slow: drop it; it reconnects and
			// catches up from the history.
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// subscribe returns the events after lastID still in the history (with the
// latest progress event), and a channel of the events to come, closed when
// the subscriber is dropped or the job deleted. Call unsubscribe when done.
func (b *broker) subscribe(lastID uint64) ([]event, chan event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var past []event
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
		past = append(past[:i], append([]event{*p}, past[i:]...)...)
	}
	ch := make(chan event, subBuffer)
	if b.closed {
		close(ch)
		return past, ch
	}
	b.subs[ch] = struct{}{}
	return past, ch
}

func (b *broker) unsubscribe(ch chan event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[ch]; ok {
		delete(b.subs, ch)
		close(ch)
	}
}

// close ends every subscription (the job was deleted).
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		close(ch)
	}
	clear(b.subs)
}
