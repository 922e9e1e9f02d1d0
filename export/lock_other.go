//go:build !unix

package export

import "time"

// lockDir does nothing where flock is not available.
func lockDir(string, time.Duration) (func(), error) { return func() {}, nil }
