package data

import "image"

// Embedder turns images into L2-normalised vectors. The catalog uses it to embed product
// images when they are registered (and to re-embed stored images when the model changes);
// the recogniser uses the same embedder on crops, so that both sides are comparable.
// Implementations (package models) are safe for concurrent use.
type Embedder interface {
	// Fingerprint identifies the model and its configuration: vectors from embedders with
	// different fingerprints are not comparable.
	Fingerprint() string
	// Dim is the length of every vector.
	Dim() int
	// EmbedCatalog embeds one product image into one or more vectors (the image itself and,
	// when the embedder is configured to, augmented views of it), all for the same product.
	EmbedCatalog(img image.Image) ([][]float32, error)
	// EmbedQueries embeds crops to recognise, one vector each, in one batch when possible.
	EmbedQueries(imgs []image.Image) ([][]float32, error)
}
