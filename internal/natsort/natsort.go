// Package natsort owns the order of numbered file names: frames written as
// 1.jpg, 2.jpg, ..., 10.jpg (ffmpeg's %d pattern) sort by their numbers, not
// as text (1, 10, 11, 2). Zero-padded names (DAVIS's 00000.jpg) keep the
// text order. The image folders of video and the masks of eval use it.
package natsort

import "slices"

// Compare orders a and b with every run of digits compared as a number;
// where two names differ only in leading zeros, the text order decides, so
// the order is total.
func Compare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			ei, ej := digitsEnd(a, i), digitsEnd(b, j)
			na, nb := trimZeros(a[i:ei]), trimZeros(b[j:ej])
			if len(na) != len(nb) {
				return cmpInt(len(na), len(nb))
			}
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			i, j = ei, ej
			continue
		}
		if ca != cb {
			return cmpInt(int(ca), int(cb))
		}
		i++
		j++
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sort sorts names in the order of Compare.
func Sort(names []string) { slices.SortFunc(names, Compare) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitsEnd(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
