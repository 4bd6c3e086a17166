package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
)

// StoreSettings are the store's own choices that the pages follow: how money is shown and
// whether a cart may be confirmed while some of its products have no price.
type StoreSettings struct {
	// Currency is the ISO 4217 code prices are in ("EUR"); empty: DefaultCurrency.
	Currency string `json:"currency"`
	// Locale is the BCP 47 tag numbers, prices and dates are written in ("de-DE"); empty:
	// DefaultLocale.
	Locale string `json:"locale"`
	// RequirePrices refuses to confirm a cart holding a product without a price (422 naming
	// them); false: such a cart is confirmed and its total says that prices are missing.
	RequirePrices bool `json:"require_prices"`
	// Vibrate asks the checkout page to vibrate the phone briefly on each count (where the
	// browser can); Sound to play a short tone.
	Vibrate bool `json:"vibrate"`
	Sound   bool `json:"sound"`
}

// The defaults of StoreSettings.
const (
	DefaultCurrency = "USD"
	DefaultLocale   = "en-US"
)

func (s StoreSettings) withDefaults() StoreSettings {
	if s.Currency == "" {
		s.Currency = DefaultCurrency
	}
	if s.Locale == "" {
		s.Locale = DefaultLocale
	}
	return s
}

// whoAmIJSON answers GET /api/whoami.
type whoAmIJSON struct {
	Role access.Role `json:"role"`
	// Name is the token's name: a named token's own ("Anna"), or "admin_token" or
	// "staff_token" for the configured ones; TokenID is a named token's id.
	Name    string `json:"name"`
	TokenID string `json:"token_id,omitempty"`
	// May lists what the role may do, for the pages to show only what works.
	May []string `json:"may"`
}

// storeRoutes adds GET /api/store (the store's settings, public: the checkout page formats
// prices with them) and GET /api/whoami (the role of the token sent, or exactly what is wrong
// with it: a sign-in form checks a token at once with it).
func (s *Server) storeRoutes(r *gin.Engine) {
	r.GET("/api/store", func(c *gin.Context) { c.JSON(http.StatusOK, s.Store.withDefaults()) })
	r.GET("/api/whoami", func(c *gin.Context) {
		id, err := s.Guard.Identify(c.Request)
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="ebrcs"`)
			fail(c, access.Status(err), "token", "%v", err)
			return
		}
		may := []string{"staff_mode", "counting_areas", "reviews", "cart_overrides", "stations", "history"}
		if id.Role == access.RoleAdmin {
			may = append(may, "catalog", "pipelines", "tokens")
		}
		c.JSON(http.StatusOK, whoAmIJSON{Role: id.Role, Name: id.Name, TokenID: id.TokenID, May: may})
	})
}

// mayEditArea answers 403 (and false) unless staff send the request: a shopper's key opens
// the session, not its counting area, which decides what is counted.
func (s *Server) mayEditArea(c *gin.Context) bool {
	if s.Guard.IsStaff(c.Request) {
		return true
	}
	fail(c, http.StatusForbidden, "roi", "roi: the counting area is set by staff: send the staff or admin token")
	return false
}

// unpriced returns the names of the cart's products that have no price in the catalog.
func (s *Server) unpriced(v cart.CartView) []string {
	store := s.Checkout.Config().Store
	var out []string
	for _, l := range v.Items {
		if l.Quantity <= 0 {
			continue
		}
		if p := s.priceOf(store, l); p == nil {
			out = append(out, l.Product)
		}
	}
	return out
}

// priceOf is a cart line's unit price in cents from the catalog (nil: none, or no such product).
func (s *Server) priceOf(store checkout.Store, l cart.Line) *int64 {
	if store == nil {
		return nil
	}
	if l.ProductID > 0 {
		if p, err := store.Product(l.ProductID); err == nil {
			return p.PriceCents
		}
	}
	if p, err := store.ProductByName(l.Product); err == nil {
		return p.PriceCents
	}
	return nil
}

// checkPrices answers 422 (and false) when the store requires prices and the cart holds a
// product without one, naming them.
func (s *Server) checkPrices(c *gin.Context, sess *checkout.Session) bool {
	if !s.Store.RequirePrices {
		return true
	}
	missing := s.unpriced(sess.Cart.View())
	if len(missing) == 0 {
		return true
	}
	slices.Sort(missing)
	fail(c, http.StatusUnprocessableEntity, "items", "items: no price for %s: this store confirms only carts whose products all have a price; staff can set it in the back office",
		strings.Join(missing, ", "))
	return false
}
