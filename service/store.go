package service

// jobStore keeps job records across restarts. The handlers and the job
// manager use only this; internal/jobstore's bbolt database is the one
// New opens.
type jobStore interface {
	Put(id string, rec *jobRecord) error
	Delete(id string) error
	// All returns every record in creation order; records that do not
	// decode come back in bad.
	All() (recs []*jobRecord, bad []error, err error)
	Close() error
}

// jobQueue is the waiting line of file jobs (used under Server.mu);
// internal/queue's FIFO is the one New makes.
type jobQueue interface {
	Push(j *job)
	Pop() (*job, bool)
	Remove(j *job) bool
	// Position is j's place (1 = next), 0 when it is not queued.
	Position(j *job) int
	Len() int
}
