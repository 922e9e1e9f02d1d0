package service

import (
	"sync"
	"time"

	"samtrack/internal/streams"
)

// relay publishes j's events and (at most FrameRate a second) its newest
// overlay frame on NATS while it runs, for serve to pass on to SSE and
// MJPEG clients. stop publishes the events still pending (the run's final
// state among them) and returns.
func (w *Worker) relay(j *job) (stop func()) {
	id := j.rec.ID
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var last uint64
		send := func(ev streams.Event) {
			if ev.ID > last {
				last = ev.ID
				_ = w.conn.PublishEvent(id, ev.Name, ev.Data)
			}
		}
		for {
			past, ch := j.events.Subscribe(last)
			for _, ev := range past {
				send(ev)
			}
			for open := true; open; {
				select {
				case ev, ok := <-ch:
					if ok {
						send(ev)
					}
					open = ok // dropped for falling behind: subscribe again
				case <-done:
					j.events.Unsubscribe(ch)
					past, rest := j.events.Subscribe(last)
					j.events.Unsubscribe(rest)
					for _, ev := range past {
						send(ev)
					}
					return
				}
			}
		}
	})
	wg.Go(func() {
		every := time.Duration(float64(time.Second) / w.opts.FrameRate)
		var sent uint64
		for {
			seq, next := j.latest.Wait()
			if seq == sent {
				select {
				case <-next:
					continue
				case <-done:
					return
				}
			}
			if jpeg, s, index := j.latest.JPEG(); jpeg != nil {
				_ = w.conn.PublishFrame(id, index, jpeg)
				sent = s
			}
			select {
			case <-time.After(every):
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		_ = w.conn.NC.Flush()
	}
}
