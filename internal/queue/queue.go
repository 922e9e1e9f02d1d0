// Package queue is samtrack serve's waiting line of file jobs: an in-memory
// first-in, first-out queue with removal from the middle (a cancelled job)
// and positions for the API. It is not safe for concurrent use; the service
// holds its own lock around it. The service reaches it through a small
// interface, so a distributed work queue can take its place.
package queue

// FIFO is a first-in, first-out queue of distinct items. The zero value is
// an empty queue.
type FIFO[T comparable] struct {
	items []T
}

// Push appends v at the back.
func (q *FIFO[T]) Push(v T) { q.items = append(q.items, v) }

// Pop takes the front item; ok is false when the queue is empty.
func (q *FIFO[T]) Pop() (v T, ok bool) {
	if len(q.items) == 0 {
		return v, false
	}
	v = q.items[0]
	var zero T
	q.items[0] = zero
	q.items = q.items[1:]
	return v, true
}

// Remove takes v out wherever it waits; it reports whether v was queued.
func (q *FIFO[T]) Remove(v T) bool {
	for i, x := range q.items {
		if x == v {
			q.items = append(q.items[:i], q.items[i+1:]...)
			return true
		}
	}
	return false
}

// Position is v's place in the queue (1 = next), or 0 when it is not queued.
func (q *FIFO[T]) Position(v T) int {
	for i, x := range q.items {
		if x == v {
			return i + 1
		}
	}
	return 0
}

// Len is the number of waiting items.
func (q *FIFO[T]) Len() int { return len(q.items) }
