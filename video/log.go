package video

import (
	"context"
	"log/slog"
	"strings"

	"github.com/asticode/go-astiav"
)

// LogFFmpegTo sends FFmpeg's own log lines (by default printed on stderr)
// to l, keeping those at level or above. FFmpeg's logger is process-wide, so
// call this once, from main, before opening sources; a nil l restores
// FFmpeg's stderr logging.
func LogFFmpegTo(l *slog.Logger, level slog.Level) {
	if l == nil {
		astiav.ResetLogCallback()
		astiav.SetLogLevel(astiav.LogLevelInfo)
		return
	}
	switch {
	case level >= slog.LevelError:
		astiav.SetLogLevel(astiav.LogLevelError)
	case level >= slog.LevelWarn:
		astiav.SetLogLevel(astiav.LogLevelWarning)
	case level >= slog.LevelInfo:
		astiav.SetLogLevel(astiav.LogLevelInfo)
	default:
		astiav.SetLogLevel(astiav.LogLevelVerbose)
	}
	astiav.SetLogCallback(func(c astiav.Classer, lv astiav.LogLevel, _, msg string) {
		sl := slog.LevelDebug
		switch {
		case lv <= astiav.LogLevelError:
			sl = slog.LevelError
		case lv <= astiav.LogLevelWarning:
			sl = slog.LevelWarn
		case lv <= astiav.LogLevelInfo:
			sl = slog.LevelInfo
		}
		attrs := []any{}
		if c != nil {
			if cl := c.Class(); cl != nil {
				attrs = append(attrs, "component", cl.Name())
			}
		}
		l.Log(context.Background(), sl, "ffmpeg: "+strings.TrimSpace(msg), attrs...)
	})
}
