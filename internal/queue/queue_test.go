package queue

import "testing"

func TestFIFO(t *testing.T) {
	var q FIFO[string]
	if _, ok := q.Pop(); ok {
		t.Fatal("Pop on an empty queue returned an item")
	}
	for _, v := range []string{"a", "b", "c", "d"} {
		q.Push(v)
	}
	for _, tc := range []struct {
		v    string
		want int
	}{{"a", 1}, {"c", 3}, {"d", 4}, {"x", 0}} {
		if got := q.Position(tc.v); got != tc.want {
			t.Errorf("Position(%s) = %d, want %d", tc.v, got, tc.want)
		}
	}
	if !q.Remove("b") || q.Remove("x") {
		t.Fatal("Remove: want true for a queued item, false for another")
	}
	var got []string
	for {
		v, ok := q.Pop()
		if !ok {
			break
		}
		got = append(got, v)
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "c" || got[2] != "d" || q.Len() != 0 {
		t.Fatalf("popped %v (len now %d), want [a c d] and an empty queue", got, q.Len())
	}
}
