package cart

import (
	"fmt"
	"sync"
)

// The cart registry connects sessions to the ebrcs_counter elements of their pipelines: a
// session registers its cart under its id and builds its pipeline with the counter's
// `session` property set to that id; the counter looks the cart up when it starts. A GStreamer
// element is created by name from a factory and cannot be handed a Go pointer, hence a key.
var (
	cartsMu sync.Mutex
	carts   = map[string]*Cart{}
)

// Register binds key to cart; it fails if the key is taken.
func Register(key string, cart *Cart) error {
	cartsMu.Lock()
	defer cartsMu.Unlock()
	if _, ok := carts[key]; ok {
		return fmt.Errorf("cart: key %q is already registered", key)
	}
	carts[key] = cart
	return nil
}

// Unregister removes a binding. Counters already running keep their cart until they stop.
func Unregister(key string) {
	cartsMu.Lock()
	defer cartsMu.Unlock()
	delete(carts, key)
}

// Lookup returns the cart bound to key, or ErrNoBinding.
func Lookup(key string) (*Cart, error) {
	cartsMu.Lock()
	defer cartsMu.Unlock()
	if c, ok := carts[key]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNoBinding, key)
}
