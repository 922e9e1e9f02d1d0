package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	cases := []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html", `<script src="app.js">`},
		{"GET", "/index.html", 301, "", ""},
		{"GET", "/app.js", 200, "text/javascript", "POST', '/api/v1/segment'"},
		{"GET", "/style.css", 200, "text/css", "#overlay"},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/embed.go", 404, "", ""},
		{"GET", "/NEEDS.md", 404, "", ""},
		{"GET", "/../go.mod", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range cases {
		t.Run(c.method+c.path, func(t *testing.T) {
			req, err := http.NewRequest(c.method, srv.URL+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d", res.StatusCode, c.status)
			}
			if c.ctype != "" && !strings.HasPrefix(res.Header.Get("Content-Type"), c.ctype) {
				t.Errorf("Content-Type %q, want %s", res.Header.Get("Content-Type"), c.ctype)
			}
			if !strings.Contains(string(b), c.body) {
				t.Errorf("body lacks %q", c.body)
			}
			if c.status == 200 && res.Header.Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy header")
			}
		})
	}
}
