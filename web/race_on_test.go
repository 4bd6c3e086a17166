//go:build race

package web

// raceEnabled: the tests run under the race detector, which slows a live session's Go code
// several times over; tests that judge a session's timing run without it (make test).
const raceEnabled = true
