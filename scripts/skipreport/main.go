// Command skipreport reads `go test -json` on stdin and writes what plain
// `go test` would (each package's ok/FAIL line, the output of failing tests,
// build errors), then the number of skipped tests and, for each, its name
// and skip message. A skip is allowed only when its message says it needs
// aot-benchmark's source (tracker/deaot's tests without SAMTRACK_AOT_ROOT);
// any other skip is unexpected, and under CI=true unexpected skips fail the
// run, as do failed tests.
//
//	go test -json ./... | go run ./scripts/skipreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// skip is one skipped test and its message.
type skip struct {
	name, msg string
	allowed   bool
}

// report is what a run came to.
type report struct {
	skips  []skip
	failed bool
	// missing are the distinct prerequisites that failed tests under
	// CI=true named (internal/testenv's message), in order of appearance.
	missing []string
}

// missingMark starts internal/testenv's message for a prerequisite that
// is missing under CI=true.
const missingMark = "a prerequisite is missing: "

// noteMissing records the prerequisites named in a failed test's output.
func (r *report) noteMissing(lines []string) {
	for _, l := range lines {
		_, msg, ok := strings.Cut(l, missingMark)
		if !ok {
			continue
		}
		msg = strings.TrimSpace(msg)
		if !slices.Contains(r.missing, msg) {
			r.missing = append(r.missing, msg)
		}
	}
}

// allowedSkip says whether a skip message is one CI tolerates.
func allowedSkip(msg string) bool { return strings.Contains(msg, "aot-benchmark") }

// scan copies the plain `go test` output of the events in r to w and
// collects the skips.
func scan(r io.Reader, w io.Writer) (report, error) {
	var rep report
	buf := map[string][]string{} // package/test -> its output lines
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not an event (go vet or a build error printed as text).
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		key := e.Package + "/" + e.Test
		switch {
		case e.Action == "build-output":
			io.WriteString(w, e.Output)
		case e.Action == "build-fail":
			rep.failed = true
		case e.Action == "output" && e.Test == "":
			if e.Output != "PASS\n" && !strings.HasPrefix(e.Output, "=== ") {
				io.WriteString(w, e.Output)
			}
		case e.Action == "output":
			buf[key] = append(buf[key], e.Output)
		case e.Action == "fail":
			rep.failed = true
			if e.Test != "" {
				for _, l := range buf[key] {
					if !strings.HasPrefix(l, "=== ") {
						io.WriteString(w, l)
					}
				}
				rep.noteMissing(buf[key])
			}
			delete(buf, key)
		case e.Action == "skip" && e.Test != "":
			msg := skipMessage(buf[key])
			rep.skips = append(rep.skips, skip{name: e.Package + "." + e.Test, msg: msg, allowed: allowedSkip(msg)})
			delete(buf, key)
		case e.Action == "pass" || e.Action == "skip":
			delete(buf, key)
		}
	}
	return rep, sc.Err()
}

// skipMessage is a skipped test's own output without the RUN/SKIP lines.
func skipMessage(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msg = append(msg, t)
	}
	return strings.Join(msg, " ")
}

// summary writes the skip list and returns the number of unexpected skips.
func summary(w io.Writer, rep report) int {
	unexpected := 0
	for _, s := range rep.skips {
		if !s.allowed {
			unexpected++
		}
	}
	if len(rep.missing) > 0 {
		fmt.Fprintf(w, "\nmissing prerequisites (tests failed for them under CI=true): %d\n", len(rep.missing))
		for _, m := range rep.missing {
			fmt.Fprintf(w, "  MISSING %s\n", m)
		}
	}
	fmt.Fprintf(w, "\nskipped tests: %d (%d unexpected; only skips that need aot-benchmark are expected)\n", len(rep.skips), unexpected)
	for _, s := range rep.skips {
		mark := "unexpected"
		if s.allowed {
			mark = "expected"
		}
		fmt.Fprintf(w, "  SKIP %s (%s): %s\n", s.name, mark, s.msg)
	}
	return unexpected
}

func main() {
	rep, err := scan(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "skipreport: read go test -json: %v\n", err)
		os.Exit(1)
	}
	unexpected := summary(os.Stdout, rep)
	switch {
	case rep.failed:
		os.Exit(1)
	case unexpected > 0 && os.Getenv("CI") == "true":
		fmt.Fprintf(os.Stdout, "FAIL: %d unexpected skipped tests under CI=true\n", unexpected)
		os.Exit(1)
	}
}
