package segment

import (
	"context"
	"sync/atomic"

	"samtrack/internal/lru"
	"samtrack/media"
)

// EmbeddingCache keeps the embeddings of the last few frames, keyed by a
// frame identity the caller chooses (a frame index, a path, a hash), so that
// prompts on a frame seen recently skip the encoder. It is safe for
// concurrent use; two callers asking for the same missing frame at once may
// both encode it.
type EmbeddingCache struct {
	entries *lru.Cache[cacheKey, *Embedding]
	hits    atomic.Int64
	misses  atomic.Int64
}

type cacheKey struct {
	model Model
	frame any
}

// NewEmbeddingCache returns a cache holding at most capacity embeddings
// (at least 1).
func NewEmbeddingCache(capacity int) *EmbeddingCache {
	return &EmbeddingCache{entries: lru.New[cacheKey, *Embedding](capacity)}
}

// Encode returns the cached embedding of frame for model m, or encodes img
// and remembers it. frame must be comparable.
func (c *EmbeddingCache) Encode(ctx context.Context, m Model, frame any, img media.Image) (*Embedding, error) {
	e, _, err := c.EncodeCached(ctx, m, frame, img)
	return e, err
}

// EncodeCached is Encode that also says whether the embedding came from
// the cache.
func (c *EmbeddingCache) EncodeCached(ctx context.Context, m Model, frame any, img media.Image) (*Embedding, bool, error) {
	k := cacheKey{m, frame}
	if e, ok := c.entries.Get(k); ok {
		c.hits.Add(1)
		return e, true, nil
	}
	c.misses.Add(1)
	e, err := m.Encode(ctx, img)
	if err != nil {
		return nil, false, err
	}
	c.entries.Put(k, e)
	return e, false, nil
}

// Stats reports cache hits and misses so far.
func (c *EmbeddingCache) Stats() (hits, misses int) {
	return int(c.hits.Load()), int(c.misses.Load())
}

// Len is the number of cached embeddings.
func (c *EmbeddingCache) Len() int { return c.entries.Len() }
