package pipeline

import (
	"encoding/json"
	"errors"
	"sync"

	"samtrack/config"
	"samtrack/tracker"
)

// ModelPool keeps opened models (the segmenter and the propagator, with their
// ONNX Runtime sessions) between jobs, so that a process running many jobs —
// `samtrack serve`, a worker — opens each model once instead of once a job:
// opening and closing sessions per job costs their load time every job and
// fragments the native heap. A job borrows a model for its whole run and
// gives it back reset; two jobs never share one instance at a time. Models
// are keyed by the configuration that opens them, so jobs with other
// settings get their own. A nil *ModelPool opens and closes per job.
type ModelPool struct {
	mu      sync.Mutex
	maxIdle int
	idle    []pooled // oldest first
	closed  bool
}

type pooled struct {
	key   string
	seg   *Segmenter
	prop  tracker.Propagator
	close func() error
}

// NewModelPool keeps up to maxIdle models not in use (at least 1); the
// oldest is closed when more are given back.
func NewModelPool(maxIdle int) *ModelPool {
	return &ModelPool{maxIdle: max(maxIdle, 1)}
}

// segmenterKey is what decides which segmenter OpenSegmenter opens.
func segmenterKey(c config.Config) string {
	b, _ := json.Marshal(struct {
		Kind       string
		SAM        config.SAM
		Everything any
		Runtime    config.Runtime
		Models     config.Models
	}{"segmenter", c.SAM, c.Everything, c.Runtime, c.Models})
	return string(b)
}

// propagatorKey is what decides which propagator OpenPropagator opens.
func propagatorKey(c config.Config) string {
	b, _ := json.Marshal(struct {
		Kind       string
		Propagator string
		Gap, Max   int
		Runtime    config.Runtime
		Models     config.Models
	}{"propagator", c.Track.Propagator, c.Track.LongTermMemGap, c.Track.MaxLongTerm, c.Runtime, c.Models})
	return string(b)
}

// take removes and returns an idle model with key, if any (newest first).
func (p *ModelPool) take(key string) (pooled, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if p.idle[i].key == key {
			m := p.idle[i]
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return m, true
		}
	}
	return pooled{}, false
}

// put keeps m for a later job, closing the oldest idle model when over
// maxIdle, or m itself when the pool is closed.
func (p *ModelPool) put(m pooled) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return m.close()
	}
	p.idle = append(p.idle, m)
	var evict []pooled
	if n := len(p.idle) - p.maxIdle; n > 0 {
		evict = append(evict, p.idle[:n]...)
		p.idle = append([]pooled(nil), p.idle[n:]...)
	}
	p.mu.Unlock()
	var errs []error
	for _, e := range evict {
		errs = append(errs, e.close())
	}
	return errors.Join(errs...)
}

// Segmenter lends the configured segmenter; release gives it back (or
// closes it, with a nil pool).
func (p *ModelPool) Segmenter(c config.Config) (seg *Segmenter, release func() error, err error) {
	if p == nil {
		seg, err = OpenSegmenter(c)
		if err != nil {
			return nil, nil, err
		}
		return seg, seg.Close, nil
	}
	key := segmenterKey(c)
	m, ok := p.take(key)
	if !ok {
		if m.seg, err = OpenSegmenter(c); err != nil {
			return nil, nil, err
		}
		m.key, m.close = key, m.seg.Close
	}
	return m.seg, func() error { return p.put(m) }, nil
}

// Propagator lends the configured propagator, with no memory; release
// resets it and gives it back (or closes it, with a nil pool).
func (p *ModelPool) Propagator(c config.Config) (prop tracker.Propagator, release func() error, err error) {
	if p == nil {
		prop, closeRT, err := OpenPropagator(c)
		if err != nil {
			return nil, nil, err
		}
		return prop, func() error { return errors.Join(prop.Close(), closeRT()) }, nil
	}
	key := propagatorKey(c)
	m, ok := p.take(key)
	if !ok {
		prop, closeRT, err := OpenPropagator(c)
		if err != nil {
			return nil, nil, err
		}
		m = pooled{key: key, prop: prop, close: func() error { return errors.Join(prop.Close(), closeRT()) }}
	}
	return m.prop, func() error {
		m.prop.Reset()
		return p.put(m)
	}, nil
}

// Close closes every idle model; models still lent are closed when given
// back.
func (p *ModelPool) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	var errs []error
	for _, m := range idle {
		errs = append(errs, m.close())
	}
	return errors.Join(errs...)
}
