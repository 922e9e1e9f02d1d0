package service

import (
	"context"
	"net/http"
	"strings"
	"time"

	"samtrack/pipeline"
)

// checkPromptsFit opens a file job's input to check its prompts against the
// picture size before the job is queued, so that a prompt outside the
// picture is a 400 with the reason instead of a failed job later. Stream
// inputs are checked when the job runs.
func (s *Server) checkPromptsFit(ctx context.Context, rec *jobRecord) *apiError {
	if rec.Live || strings.Contains(rec.Source, "://") || rec.Prompts.Empty() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := pipeline.ProbeInput(ctx, rec.Source, rec.Config)
	if err != nil {
		return nil // an unreadable input fails the job with its own error
	}
	if err := pipeline.CheckPrompts(rec.Prompts, info); err != nil {
		return errorf(http.StatusBadRequest, "prompts: %v", err)
	}
	return nil
}
