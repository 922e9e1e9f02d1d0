package streams

import "testing"

func TestBrokerReplaysAfterLastID(t *testing.T) {
	b := NewBroker()
	b.Publish("state", map[string]string{"state": "queued"}) // 1
	b.Publish("progress", map[string]int{"frame": 0})        // 2, superseded
	b.Publish("appeared", map[string]int{"id": 1})           // 3
	b.Publish("progress", map[string]int{"frame": 1})        // 4
	for _, tc := range []struct {
		last uint64
		want []uint64
	}{{0, []uint64{1, 3, 4}}, {1, []uint64{3, 4}}, {3, []uint64{4}}, {4, nil}} {
		past, ch := b.Subscribe(tc.last)
		b.Unsubscribe(ch)
		var got []uint64
		for _, ev := range past {
			got = append(got, ev.ID)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("after %d: replayed %v, want %v", tc.last, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("after %d: replayed %v, want %v", tc.last, got, tc.want)
			}
		}
	}
}

func TestBrokerDropsSlowSubscriberAndCloses(t *testing.T) {
	b := NewBroker()
	_, slow := b.Subscribe(0)
	for range subBuffer + 1 {
		b.Publish("appeared", nil)
	}
	n := 0
	for range slow {
		n++
	}
	if n != subBuffer {
		t.Fatalf("slow subscriber got %d events before its channel closed, want %d", n, subBuffer)
	}
	_, ch := b.Subscribe(0)
	b.Close()
	if _, ok := <-ch; ok {
		t.Fatal("Close left a subscription open")
	}
	b.Publish("state", nil)
	if past, _ := b.Subscribe(uint64(subBuffer + 1)); len(past) != 0 {
		t.Fatalf("a closed broker took an event: %v", past)
	}
}
