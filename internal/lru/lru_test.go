package lru

import (
	"fmt"
	"sync"
	"testing"
)

func TestEviction(t *testing.T) {
	type op struct {
		put  bool
		key  string
		val  int
		want int // for a get: the value, or -1 for a miss
	}
	for _, tc := range []struct {
		name     string
		capacity int
		ops      []op
	}{
		{"oldest goes first", 2, []op{
			{true, "a", 1, 0}, {true, "b", 2, 0}, {true, "c", 3, 0},
			{false, "a", 0, -1}, {false, "b", 0, 2}, {false, "c", 0, 3}}},
		{"a get keeps an entry", 2, []op{
			{true, "a", 1, 0}, {true, "b", 2, 0}, {false, "a", 0, 1}, {true, "c", 3, 0},
			{false, "b", 0, -1}, {false, "a", 0, 1}, {false, "c", 0, 3}}},
		{"a put replaces and keeps", 2, []op{
			{true, "a", 1, 0}, {true, "b", 2, 0}, {true, "a", 9, 0}, {true, "c", 3, 0},
			{false, "a", 0, 9}, {false, "b", 0, -1}}},
		{"capacity 0 holds one", 0, []op{
			{true, "a", 1, 0}, {false, "a", 0, 1}, {true, "b", 2, 0}, {false, "a", 0, -1}, {false, "b", 0, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New[string, int](tc.capacity)
			for i, o := range tc.ops {
				if o.put {
					c.Put(o.key, o.val)
					continue
				}
				v, ok := c.Get(o.key)
				if (o.want == -1) == ok || (ok && v != o.want) {
					t.Fatalf("op %d: Get(%q) = %d, %v; want %d", i, o.key, v, ok, o.want)
				}
			}
			if n := c.Len(); n > max(tc.capacity, 1) {
				t.Errorf("%d entries over capacity %d", n, tc.capacity)
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	c := New[int, string](8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (g*7 + i) % 20
				c.Put(k, fmt.Sprint(k))
				if v, ok := c.Get(k); ok && v != fmt.Sprint(k) {
					t.Errorf("key %d holds %q", k, v)
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() != 8 {
		t.Errorf("%d entries, want 8", c.Len())
	}
}
