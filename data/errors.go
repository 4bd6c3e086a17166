package data

import (
	"errors"
	"fmt"
)

// Errors returned by the catalog. Callers compare with errors.Is: most are returned wrapped,
// with the detail (which name, how many images, ...) in the message.
var (
	// ErrNotFound: no product (or no image at that position) with the given key.
	ErrNotFound = errors.New("data: not found")

	// ErrDuplicateName: another product already has this name. Names are compared after
	// trimming, Unicode NFC normalisation, spaces made plain and single, and case folding,
	// so "Milk", " milk", "MILK" and "Cafe\u0301" / "Café" are the same product for a
	// cashier and for the catalog.
	ErrDuplicateName = errors.New("data: a product with this name already exists")

	// ErrInvalidName: the name is empty after trimming, longer than MaxNameLength characters,
	// not valid UTF-8, or contains a character a reader cannot see: control characters (which
	// would corrupt receipts and logs), format characters such as text direction overrides
	// (U+202E) and zero-width spaces and joiners, and other invisibles, with which one name
	// could pass for another. The error names the character.
	ErrInvalidName = errors.New("data: invalid product name")

	// ErrInvalidSKU: the SKU is longer than MaxSKULength characters, not valid UTF-8, or
	// contains a character a reader cannot see (as for names).
	ErrInvalidSKU = errors.New("data: invalid SKU")

	// ErrInvalidPrice: the price is negative.
	ErrInvalidPrice = errors.New("data: invalid price")

	// ErrNoImages: a product needs at least one image, or it could never be recognised.
	ErrNoImages = errors.New("data: a product needs at least one image")

	// ErrTooManyImages: more images than Options.MaxImages.
	ErrTooManyImages = errors.New("data: too many images")

	// ErrLastImage: removing a product's only photo. A product keeps at least one, or it
	// could never be recognised; remove the product instead.
	ErrLastImage = errors.New("data: a product keeps at least one photo")

	// ErrClosed: the catalog was closed.
	ErrClosed = errors.New("data: catalog is closed")

	// ErrLocked: another Catalog (in this process or another) has the data directory open.
	// Two writers would each keep their own live index and overwrite each other's index file.
	ErrLocked = errors.New("data: catalog directory is in use")

	// ErrSchemaTooNew: the database was written by a newer EBRCS (its schema version is above
	// the newest migration this build knows). Opening it could corrupt data we do not
	// understand, so we refuse; upgrade the binary instead.
	ErrSchemaTooNew = errors.New("data: database schema is newer than this program")

	// ErrDimension: a vector does not have the embedder's dimension.
	ErrDimension = errors.New("data: vector has the wrong dimension")

	// ErrAlreadyConfirmed: the session already has a purchase; a cart is confirmed once.
	ErrAlreadyConfirmed = errors.New("data: this session's cart is already confirmed")

	// ErrInvalidPurchase: a purchase without items, or an item without a product name or
	// with a quantity below 1.
	ErrInvalidPurchase = errors.New("data: invalid purchase")
)

// ImageError says which of a product's images was refused and why. Index is the 0-based
// position in NewProduct.Images. Err, when not nil, is the decoder's own error.
type ImageError struct {
	Index  int
	Reason string
	Err    error
}

func (e *ImageError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("data: image %d: %s: %v", e.Index, e.Reason, e.Err)
	}
	return fmt.Sprintf("data: image %d: %s", e.Index, e.Reason)
}

// Unwrap returns the decoder's error, if any.
func (e *ImageError) Unwrap() error { return e.Err }

// Storage failures: a write could not be stored because of the storage itself. The
// transaction rolled back, so nothing was stored and nothing stored before was touched; the
// catalog keeps serving searches from memory, and the same request succeeds once the
// operator has made room or remounted the directory read-write.
var (
	// ErrReadOnly: the data directory, or the file system it is on, is read-only.
	ErrReadOnly = errors.New("data: the data directory is read-only")

	// ErrDiskFull: the file system holding the data directory is full (or over quota).
	ErrDiskFull = errors.New("data: the disk holding the data directory is full")
)

// ErrCatalogUnavailable: the catalog of record (PostgreSQL, Options.RecordURL) cannot be
// reached, or went away before it acknowledged the write. Nothing was stored (a write is one
// transaction), or, when the connection broke during the commit, the write is whole and every
// node's replica gets it once the database is back. Searches and recognition go on from the
// node's replica meanwhile; the same request can be made again later.
var ErrCatalogUnavailable = errors.New("data: the catalog database is unavailable")
