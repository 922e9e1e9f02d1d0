// Package web owns the single page that `samtrack serve` serves at /: plain
// HTML, CSS and JavaScript (no build step, no CDN) embedded in the binary.
// With it a user opens a video file or an rtsp:// camera, shows a frame,
// clicks points or drags a box per object and sees the mask at once
// (POST /api/v1/segment), starts a tracking job (POST /api/v1/jobs) and
// watches its live overlay and SSE progress, then downloads results.zip.
// The page talks only to the /api/v1 endpoints; NEEDS.md lists what it
// expects of them.
package web

import (
	"embed"
	"net/http"
)

//go:embed index.html app.js style.css
var files embed.FS

// Handler serves the page: / gives index.html, /app.js and /style.css the
// script and style sheet; anything else is 404. Mount it on "/" below the
// API routes.
func Handler() http.Handler {
	static := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/", "/index.html", "/app.js", "/style.css":
		default:
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		static.ServeHTTP(w, r)
	})
}
