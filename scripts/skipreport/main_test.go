package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	ev := func(action, test, out string) string {
		return `{"Action":"` + action + `","Package":"p","Test":"` + test + `","Output":` + strconv.Quote(out) + "}\n"
	}
	tests := []struct {
		name       string
		in         string
		wantOut    []string // substrings of the plain output
		notOut     []string
		skips      int
		unexpected int
		failed     bool
	}{
		{"pass is quiet",
			ev("output", "TestA", "=== RUN   TestA\n") + ev("output", "TestA", "--- PASS: TestA (0.00s)\n") + ev("pass", "TestA", "") +
				ev("output", "", "PASS\n") + ev("output", "", "ok  \tp\t0.1s\n") + ev("pass", "", ""),
			[]string{"ok  \tp\t0.1s"}, []string{"TestA", "PASS\n"}, 0, 0, false},
		{"failure shows its output",
			ev("output", "TestB", "    b_test.go:9: boom\n") + ev("output", "TestB", "--- FAIL: TestB (0.00s)\n") + ev("fail", "TestB", "") +
				ev("output", "", "FAIL\tp\t0.1s\n") + ev("fail", "", ""),
			[]string{"b_test.go:9: boom", "FAIL\tp"}, nil, 0, 0, true},
		{"data skip is unexpected",
			ev("output", "TestC", "    c_test.go:3: shared data ../shared/x is missing\n") + ev("output", "TestC", "--- SKIP: TestC (0.00s)\n") + ev("skip", "TestC", ""),
			nil, []string{"c_test.go"}, 1, 1, false},
		{"aot-benchmark skip is expected",
			ev("output", "TestD", "    d_test.go:3: needs an aot-benchmark checkout in SAMTRACK_AOT_ROOT\n") + ev("skip", "TestD", ""),
			nil, nil, 1, 0, false},
		{"package without tests is no skip",
			ev("output", "", "?   \tp\t[no test files]\n") + ev("skip", "", ""),
			[]string{"no test files"}, nil, 0, 0, false},
		{"missing prerequisite under CI",
			ev("output", "TestE", "=== RUN   TestE\n") + ev("output", "TestE", "    e_test.go:5: CI=true and a prerequisite is missing: shared data ../shared/x is missing\n") +
				ev("output", "TestE", "--- FAIL: TestE (0.00s)\n") + ev("fail", "TestE", "") +
				ev("output", "TestF", "    f_test.go:5: CI=true and a prerequisite is missing: shared data ../shared/x is missing\n") + ev("fail", "TestF", ""),
			[]string{"e_test.go:5"}, []string{"=== RUN"}, 0, 0, true},
		{"build failure",
			`{"ImportPath":"p","Action":"build-output","Output":"p/x.go:1: syntax error\n"}` + "\n" + `{"ImportPath":"p","Action":"build-fail"}` + "\n",
			[]string{"syntax error"}, nil, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			rep, err := scan(strings.NewReader(tc.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notOut {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
			var sum bytes.Buffer
			if got := summary(&sum, rep); got != tc.unexpected || len(rep.skips) != tc.skips || rep.failed != tc.failed {
				t.Errorf("skips %d, unexpected %d, failed %v; want %d, %d, %v\n%s", len(rep.skips), got, rep.failed, tc.skips, tc.unexpected, tc.failed, sum.String())
			}
			if strings.Contains(tc.in, "prerequisite") && (len(rep.missing) != 1 || !strings.Contains(sum.String(), "MISSING shared data ../shared/x is missing")) {
				t.Errorf("missing prerequisites not summarised once: %q\n%s", rep.missing, sum.String())
			}
			for _, s := range rep.skips {
				if !strings.Contains(sum.String(), s.name) || s.msg == "" || !strings.Contains(sum.String(), s.msg) {
					t.Errorf("summary does not name %s with its message:\n%s", s.name, sum.String())
				}
			}
		})
	}
}
