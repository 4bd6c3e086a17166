package models

import "errors"

// ErrClosed is returned by an Encoder, Hybrid or Batcher used after its last Close.
var ErrClosed = errors.New("models: closed")

// ErrQueueFull is returned by Batcher.Embed when its queue is full: the caller is producing
// crops faster than the model embeds them, and waiting would only grow the backlog. The crop
// is dropped and counted (BatcherStats.Dropped); the caller decides whether to retry later.
var ErrQueueFull = errors.New("models: batcher queue full")
