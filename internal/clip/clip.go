// Package clip bounds text that came from a peer before it is echoed in an
// error message or written to a log, so that nobody can make the server
// reflect or store megabytes by sending them.
package clip

import (
	"strconv"
	"unicode/utf8"
)

// String returns s when it is at most max bytes long. Otherwise it returns
// its first max bytes, backed off to a UTF-8 boundary, followed by a
// marker that says it was cut and how long s was.
func String(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[cut, " + strconv.Itoa(len(s)) + " bytes in all]"
}
