package streams

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// WriteMJPEG answers with the overlay frames of l as a
// multipart/x-mixed-replace stream of JPEGs, at most one per interval,
// until finished() is true and the newest frame was sent, the client
// leaves or stop is closed.
func WriteMJPEG(w http.ResponseWriter, r *http.Request, stop <-chan struct{}, l *Latest, interval time.Duration, finished func() bool) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	const boundary = "samtrackframe"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	var sent uint64
	for {
		seq, changed := l.Wait()
		if seq != 0 && seq != sent {
			jpg, got, index := l.JPEG()
			if jpg != nil {
				if writePart(w, rc, boundary, jpg, index) != nil {
					return
				}
				sent = got
			}
			select {
			case <-time.After(interval):
			case <-r.Context().Done():
				return
			case <-stop:
				return
			}
			continue
		}
		if finished() {
			if cur, _ := l.Wait(); cur == sent {
				return
			}
			continue
		}
		select {
		case <-changed:
		case <-time.After(2 * time.Second): // re-check the job's state
		case <-r.Context().Done():
			return
		case <-stop:
			return
		}
	}
}

// writePart writes one JPEG part and flushes it.
func writePart(w http.ResponseWriter, rc *http.ResponseController, boundary string, jpg []byte, index int) error {
	hdr := fmt.Sprintf("--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nX-Frame-Index: %d\r\n\r\n", boundary, len(jpg), index)
	if _, err := io.WriteString(w, hdr); err != nil {
		return err
	}
	if _, err := w.Write(jpg); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\r\n"); err != nil {
		return err
	}
	return rc.Flush()
}
