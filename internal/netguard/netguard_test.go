package netguard

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

func TestPermitted(t *testing.T) {
	allow, err := ParseAllowNets([]string{"10.1.0.0/16", " 192.168.1.20 "})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(allow, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true}, {"2606:4700::1111", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.2.0.1", false}, {"169.254.1.1", false}, {"100.64.0.1", false}, {"::ffff:127.0.0.1", false},
		{"10.1.3.4", true}, {"192.168.1.20", true}, {"192.168.1.21", false},
	} {
		if got := g.permitted(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("permitted(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if _, err := ParseAllowNets([]string{"lan"}); err == nil {
		t.Error("ParseAllowNets(lan) accepted a non-network")
	}
}

func TestCheckURLRefusesAndPins(t *testing.T) {
	g, err := New(nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	u, _ := url.Parse("rtsp://127.0.0.1:8554/cam")
	_, err = g.CheckURL(context.Background(), u.String(), u)
	var ra *RefusedAddr
	if !errors.Is(err, ErrNotPublic) || !errors.As(err, &ra) || ra.Addr.String() != "127.0.0.1" {
		t.Fatalf("CheckURL(loopback) = %v, want a refusal naming 127.0.0.1", err)
	}
	u, _ = url.Parse("rtsp://[2606:4700::1111]:8554/cam")
	src, err := g.CheckURL(context.Background(), u.String(), u)
	if err != nil || src != "rtsp://[2606:4700::1111]:8554/cam" {
		t.Fatalf("CheckURL(public rtsp) = %q, %v; want it pinned unchanged", src, err)
	}
}
