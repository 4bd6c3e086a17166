package checkout

import "errors"

// Errors of the checkout. The HTTP API maps each to a status code.
var (
	// ErrNoSession: no session with this id (never created, deleted or expired).
	ErrNoSession = errors.New("no such session")

	// ErrTooManySessions: the configured maximum of concurrent sessions is reached.
	ErrTooManySessions = errors.New("too many sessions")

	// ErrNoTask: no upload task with this id.
	ErrNoTask = errors.New("no such task")

	// ErrBusy: the upload queue is full; try again later.
	ErrBusy = errors.New("too many uploads in progress")

	// ErrTooLong: an uploaded video is longer than the configured limit.
	ErrTooLong = errors.New("the video is too long")

	// ErrNotVideo: an uploaded file is not a video GStreamer can decode.
	ErrNotVideo = errors.New("not a playable video")
)
