//go:build unix

package export

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockDir takes an exclusive advisory lock (flock) on directory dir,
// waiting up to wait for a holder to let go, and returns its release. The
// kernel drops the lock when the holder's process ends, so a crashed run
// never leaves it behind. Where the file system cannot lock a directory
// (NFS answers flock on a read-only descriptor with EBADF), the run goes on
// unlocked.
func lockDir(dir string, wait time.Duration) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory %s: %w", dir, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		case !errors.Is(err, syscall.EWOULDBLOCK):
			f.Close()
			return func() {}, nil // no locking here
		case !time.Now().Before(deadline):
			f.Close()
			return nil, fmt.Errorf("%w: %s is being written by another samtrack run (a track, a remove or a service job); wait for it to end, or choose another output directory", ErrInUse, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
