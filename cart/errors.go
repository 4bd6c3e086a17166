package cart

import "errors"

// Errors of carts.
var (
	// ErrConfirmed: the cart was confirmed and can no longer change.
	ErrConfirmed = errors.New("the cart is confirmed and can no longer change")

	// ErrEmptyCart: an empty cart cannot be confirmed.
	ErrEmptyCart = errors.New("the cart is empty")

	// ErrStale: the cart changed since the version the edit was based on.
	ErrStale = errors.New("the cart changed since it was read")

	// ErrTooMany: a cart edit has more lines, or more of one product, than a cart may hold.
	ErrTooMany = errors.New("too many items in the cart")

	// ErrNoBinding: ebrcs_counter names a cart that is not registered.
	ErrNoBinding = errors.New("no checkout cart with this key")

	// ErrNoReview: no pending or recently resolved review with this id.
	ErrNoReview = errors.New("no such review")

	// ErrResolved: the review was already answered; an answer is given once.
	ErrResolved = errors.New("the review was already answered")

	// ErrPending: products wait for an answer (reviews); the cart cannot be confirmed before.
	ErrPending = errors.New("products wait for an answer")

	// ErrTooManyPending: MaxPending reviews wait already; the visit is not held.
	ErrTooManyPending = errors.New("too many reviews wait for an answer")

	// ErrNoCrop: no kept crop with this id (never kept, or dropped for newer ones).
	ErrNoCrop = errors.New("no such crop")
)
