package checkout

import "errors"

// Errors of the checkout. The HTTP API maps each to a status code.
var (
	// ErrNoSession: no session with this id (never created, deleted or expired).
	ErrNoSession = errors.New("no such session")

	// ErrTooManySessions: the configured maximum of concurrent sessions is reached.
	ErrTooManySessions = errors.New("too many sessions")

	// ErrStation: a camera station's session cannot be deleted; its pipeline file defines it.
	ErrStation = errors.New("a station cannot be deleted")

	// ErrNoTask: no upload task with this id.
	ErrNoTask = errors.New("no such task")

	// ErrBusy: the upload queue is full; try again later.
	ErrBusy = errors.New("too many uploads in progress")

	// ErrTooLong: an uploaded video is longer than the configured limit.
	ErrTooLong = errors.New("the video is too long")

	// ErrVideoTooLarge: an uploaded video's frames are larger, faster or more numerous than
	// the configured limits (MaxVideoWidth × MaxVideoHeight, MaxVideoFPS, MaxVideoFrames),
	// which bound the memory and time its processing takes; checked before any decoding.
	ErrVideoTooLarge = errors.New("the video exceeds the upload limits")

	// ErrNotVideo: an uploaded file is not a video GStreamer can decode.
	ErrNotVideo = errors.New("not a playable video")

	// ErrNoProduct: a review was answered with a product that is not in the catalog.
	ErrNoProduct = errors.New("no such product")
)
