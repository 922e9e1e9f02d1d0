package service

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"samtrack/config"
	"samtrack/internal/streams"
	"samtrack/pipeline"
	"samtrack/tracker"
	"samtrack/video"
)

// State is a job's state.
type State string

// Job states. queued and running are unfinished; the others are final.
const (
	StateQueued   State = "queued"
	StateRunning  State = "running"
	StateDone     State = "done"
	StateFailed   State = "failed"
	StateCanceled State = "canceled"
)

func (s State) final() bool { return s == StateDone || s == StateFailed || s == StateCanceled }

// States lists every state, for metrics.
var States = []State{StateQueued, StateRunning, StateDone, StateFailed, StateCanceled}

// ObjectInfo is one row of a job's object table.
type ObjectInfo struct {
	ID            uint16 `json:"id"`
	State         string `json:"state"`
	Source        string `json:"source"`
	FirstFrame    int    `json:"first_frame"`
	LastFrame     int    `json:"last_frame"`
	FramesPresent int    `json:"frames_present"`
}

func objectInfos(table []tracker.Object) []ObjectInfo {
	out := make([]ObjectInfo, len(table))
	for i, o := range table {
		out[i] = ObjectInfo{ID: o.ID, State: string(o.State), Source: o.Source, FirstFrame: o.FirstFrame,
			LastFrame: o.LastFrame, FramesPresent: o.FramesPresent}
	}
	return out
}

// livePrompt is a prompt posted while the job runs; Delivered says the
// pipeline took it, for frame Frame.
type livePrompt struct {
	Prompt    pipeline.ObjectPrompt `json:"prompt"`
	Delivered bool                  `json:"delivered"`
	Added     time.Time             `json:"added"`
}

// liveSettings are a live job's source settings (durations as Go strings
// such as "5s").
type liveSettings struct {
	Buffer        int    `json:"buffer,omitempty"`
	StallTimeout  string `json:"stall_timeout,omitempty"`
	MinBackoff    string `json:"min_backoff,omitempty"`
	MaxBackoff    string `json:"max_backoff,omitempty"`
	MaxReconnects int    `json:"max_reconnects,omitempty"`
}

func (l *liveSettings) apply(o video.LiveOptions) (video.LiveOptions, error) {
	if l == nil {
		return o, nil
	}
	if l.Buffer != 0 {
		o.Buffer = l.Buffer
	}
	if l.MaxReconnects != 0 {
		o.MaxReconnects = l.MaxReconnects
	}
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"stall_timeout", l.StallTimeout, &o.StallTimeout}, {"min_backoff", l.MinBackoff, &o.MinBackoff}, {"max_backoff", l.MaxBackoff, &o.MaxBackoff}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v <= 0 {
			return o, fmt.Errorf("live.%s %q: want a positive duration such as 5s", d.name, d.s)
		}
		*d.dst = v
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	return o, nil
}

// jobRecord is what the database keeps of a job.
type jobRecord struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Input string `json:"input"` // as the client gave it (password redacted)
	// Source is what the pipeline opens (the resolved path or the URL).
	Source     string               `json:"source"`
	Live       bool                 `json:"live"`
	LiveOpts   *liveSettings        `json:"live_options,omitempty"`
	OwnUpload  string               `json:"own_upload,omitempty"` // upload made with the job, deleted with it
	Prompts    pipeline.Prompts     `json:"prompts"`
	Everything bool                 `json:"everything,omitempty"`
	Options    map[string]any       `json:"options,omitempty"`
	Config     config.Config        `json:"config"`
	State      State                `json:"state"`
	Error      string               `json:"error,omitempty"`
	FramesDone int                  `json:"frames_done"`
	Total      int                  `json:"total_frames"`
	LastFrame  int                  `json:"last_frame"`
	FPS        float64              `json:"fps"`
	Objects    []ObjectInfo         `json:"objects"`
	Present    int                  `json:"objects_present"`
	Created    time.Time            `json:"created"`
	Started    *time.Time           `json:"started,omitempty"`
	Finished   *time.Time           `json:"finished,omitempty"`
	Resumes    int                  `json:"resumes"`
	Crashes    int                  `json:"crashes"`
	Retries    int                  `json:"retries,omitempty"` // times asked to run again after it ended
	Sessions   int                  `json:"sessions,omitempty"`
	Prompted   []livePrompt         `json:"live_prompts,omitempty"`
	Gaps       []pipeline.GapRecord `json:"gaps,omitempty"`
	Reconnects int                  `json:"reconnects,omitempty"`
	Latency    int                  `json:"latency_frames,omitempty"`
	MaxLatency int                  `json:"max_latency_frames,omitempty"`
	Dropped    int                  `json:"dropped_frames,omitempty"`
	// Remove makes the job a removal from a finished tracking job.
	Remove *removeSettings `json:"remove,omitempty"`
	// Worker is the worker that runs the job, or ran it last; Workers
	// lists every worker that took it, in order (a cluster's serve only).
	Worker  string   `json:"worker,omitempty"`
	Workers []string `json:"workers,omitempty"`
	// QueueSeq is the work-queue message the running worker claimed the
	// job with: a redelivery of that message means its worker stopped
	// answering, any other message for the job is a duplicate.
	QueueSeq uint64 `json:"queue_seq,omitempty"`
}

// maxGapsKept bounds the gaps a live job's record keeps (the newest).
const maxGapsKept = 100

// JobView is the API's view of a job.
type JobView struct {
	ID         string               `json:"id"`
	Name       string               `json:"name,omitempty"`
	Input      string               `json:"input"`
	Live       bool                 `json:"live"`
	State      State                `json:"state"`
	Error      string               `json:"error"`
	FramesDone int                  `json:"frames_done"`
	Total      int                  `json:"total_frames"`
	LastFrame  int                  `json:"last_frame"`
	FPS        float64              `json:"fps"`
	Objects    []ObjectInfo         `json:"objects"`
	Present    int                  `json:"objects_present"`
	Created    time.Time            `json:"created"`
	Started    *time.Time           `json:"started,omitempty"`
	Finished   *time.Time           `json:"finished,omitempty"`
	Resumes    int                  `json:"resumes"`
	Retries    int                  `json:"retries,omitempty"`
	Queue      int                  `json:"queue_position,omitempty"`
	Prompts    pipeline.Prompts     `json:"prompts"`
	Options    map[string]any       `json:"options,omitempty"`
	Gaps       []pipeline.GapRecord `json:"gaps,omitempty"`
	Reconnects int                  `json:"reconnects,omitempty"`
	// Live jobs: how many frames the stream is ahead of the last tracked
	// frame (now, and at most since the job started) and how many frames
	// were dropped to keep up.
	Latency    int `json:"latency_frames,omitempty"`
	MaxLatency int `json:"max_latency_frames,omitempty"`
	Dropped    int `json:"dropped_frames,omitempty"`
	// Remove is set on remove jobs: the tracking job and the objects.
	Remove *removeSettings `json:"remove,omitempty"`
	// Worker is the cluster worker that runs the job (or ran it last);
	// Workers every worker that took it, in order.
	Worker  string   `json:"worker,omitempty"`
	Workers []string `json:"workers,omitempty"`
}

func (r *jobRecord) view() JobView {
	objs := r.Objects
	if objs == nil {
		objs = []ObjectInfo{}
	}
	return JobView{ID: r.ID, Name: r.Name, Input: r.Input, Live: r.Live, State: r.State, Error: r.Error,
		FramesDone: r.FramesDone, Total: r.Total, LastFrame: r.LastFrame, FPS: r.FPS, Objects: objs, Present: r.Present,
		Created: r.Created, Started: r.Started, Finished: r.Finished, Resumes: r.Resumes, Retries: r.Retries, Prompts: r.Prompts,
		Options: r.Options, Gaps: r.Gaps, Reconnects: r.Reconnects, Latency: r.Latency, MaxLatency: r.MaxLatency, Dropped: r.Dropped, Remove: r.Remove,
		Worker: r.Worker, Workers: r.Workers}
}

// clone copies the record deeply enough for another goroutine to encode it.
func (r *jobRecord) clone() *jobRecord {
	c := *r
	c.Objects = append([]ObjectInfo(nil), r.Objects...)
	c.Prompted = append([]livePrompt(nil), r.Prompted...)
	c.Gaps = append([]pipeline.GapRecord(nil), r.Gaps...)
	c.Workers = append([]string(nil), r.Workers...)
	return &c
}

// job is a job in memory: its record and, while it runs, its controls.
type job struct {
	mu  sync.Mutex
	rec *jobRecord
	// cancel stops the running pipeline with a cause (errCanceled,
	// errShutdown); done is closed when the run has ended. Both are nil
	// while the job is not running.
	cancel func(error)
	done   chan struct{}
	// release, when set, frees what the job holds on the server (a live
	// job's slot under --max-live). It runs once, before done is closed,
	// so that a client told the job has stopped can start another.
	release func()
	deleted bool
	// lost is set when a cluster worker lost its hold on the job (its
	// lease, or its contact with NATS past the ack wait): from then on it
	// writes nothing to the job's record, which another worker may own.
	lost bool
	// lastSave is when the record was last written during the run.
	lastSave time.Time
	// fps window.
	fpsAt   time.Time
	fpsDone int
	// the run's first and last frame (time, frames done), for its mean
	// rate once it ends.
	firstAt, lastAt     time.Time
	firstDone, lastDone int
	// floor is the first frame a resumed run tracks (the frames before
	// it are replayed from the interrupted run's outputs).
	floor int
	// resume, set on a live job a cluster worker takes over, prompts the
	// new session with the last session's final label map (its checkpoint)
	// instead of the job's prompts, so that every object keeps its id.
	resume *pipeline.Prompts

	events *streams.Broker
	latest *streams.Latest
	// relayed is the frames_done of the last progress event relayed from a
	// cluster worker (serve's frame counter adds what each one adds).
	relayed int
}

func newJob(rec *jobRecord) *job {
	return &job{rec: rec, events: streams.NewBroker(), latest: streams.NewLatest()}
}

// stopLocked ends j's run with cause, or, when it has not started (or has
// ended), keeps run from starting it (j.mu held).
func (j *job) stopLocked(cause error) {
	if j.cancel != nil {
		j.cancel(cause)
	} else {
		j.deleted = true
	}
}

// snapshot returns a copy of the record.
func (j *job) snapshot() *jobRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.rec.clone()
}

// newID returns a 20-hex-digit id that sorts by creation time.
func newID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%012x%s", time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}

// end marks the run as ended (j.mu held): it releases what the job holds
// on the server, then closes done.
func (j *job) end() {
	if j.release != nil {
		j.release()
	}
	close(j.done)
}
