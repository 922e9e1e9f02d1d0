package streams

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"
)

// heartbeat is the interval of SSE comments that keep proxies from closing
// an idle stream.
const heartbeat = 15 * time.Second

// WriteEvents answers with a Server-Sent Events stream: past, then the
// events from ch, until ch is closed (the subscriber was dropped or the job
// deleted: the client reconnects), a "state" event finds finished() true,
// the client leaves or stop is closed. Write errors end it quietly: the
// client has gone.
func WriteEvents(w http.ResponseWriter, r *http.Request, stop <-chan struct{}, past []Event, ch <-chan Event, finished func() bool) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: rc}
	sw.buf.WriteString("retry: 2000\n\n")
	for _, ev := range past {
		if err := sw.send(ev); err != nil {
			return
		}
	}
	if len(past) == 0 {
		w.Write(sw.buf.Bytes())
		sw.buf.Reset()
		rc.Flush()
	}
	if finished() {
		return
	}
	sw.follow(r, stop, ch, finished)
}

type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
}

func (s *sseWriter) send(ev Event) error {
	fmt.Fprintf(&s.buf, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Name, ev.Data)
	_, err := s.w.Write(s.buf.Bytes())
	s.buf.Reset()
	if err == nil {
		err = s.rc.Flush()
	}
	return err
}

// follow relays the events to come, with heartbeats, until the stream ends.
func (s *sseWriter) follow(r *http.Request, stop <-chan struct{}, ch <-chan Event, finished func() bool) {
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return // dropped (too slow) or job deleted: the client reconnects
			}
			if err := s.send(ev); err != nil {
				return
			}
			if ev.Name == "state" && finished() {
				return
			}
		case <-tick.C:
			if _, err := io.WriteString(s.w, ": ping\n\n"); err != nil {
				return
			}
			if s.rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-stop:
			return
		}
	}
}
