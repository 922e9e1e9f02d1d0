package segment

import (
	"context"
	"sync"

	"samtrack/media"
)

// EmbeddingCache keeps the embeddings of the last few frames, keyed by a
// frame identity the caller chooses (a frame index, a path, a hash), so that
// prompts on a frame seen recently skip the encoder. It is safe for
// concurrent use; two callers asking for the same missing frame at once may
// both encode it.
type EmbeddingCache struct {
	mu       sync.Mutex
	capacity int
	order    []cacheKey // least recently used first
	entries  map[cacheKey]*Embedding
	hits     int
	misses   int
}

type cacheKey struct {
	model Model
	frame any
}

// NewEmbeddingCache returns a cache holding at most capacity embeddings
// (at least 1).
func NewEmbeddingCache(capacity int) *EmbeddingCache {
	return &EmbeddingCache{capacity: max(capacity, 1), entries: map[cacheKey]*Embedding{}}
}

// Encode returns the cached embedding of frame for model m, or encodes img
// and remembers it. frame must be comparable.
func (c *EmbeddingCache) Encode(ctx context.Context, m Model, frame any, img media.Image) (*Embedding, error) {
	k := cacheKey{m, frame}
	c.mu.Lock()
	if e, ok := c.entries[k]; ok {
		c.hits++
		c.touch(k)
		c.mu.Unlock()
		return e, nil
	}
	c.misses++
	c.mu.Unlock()
	e, err := m.Encode(ctx, img)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok {
		c.order = append(c.order, k)
	}
	c.entries[k] = e
	c.touch(k)
	for len(c.order) > c.capacity {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	return e, nil
}

func (c *EmbeddingCache) touch(k cacheKey) {
	for i, o := range c.order {
		if o == k {
			copy(c.order[i:], c.order[i+1:])
			c.order[len(c.order)-1] = k
			return
		}
	}
}

// Stats reports cache hits and misses so far.
func (c *EmbeddingCache) Stats() (hits, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// Len is the number of cached embeddings.
func (c *EmbeddingCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
