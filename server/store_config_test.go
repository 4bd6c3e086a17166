package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The store section and the staff token: read, checked, and handed to the web server.
func TestStoreConfigAndStaffToken(t *testing.T) {
	dir := t.TempDir()
	load := func(text string) (Config, error) {
		file := filepath.Join(dir, "ebrcs.yaml")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(file, func(string) string { return "" }, nil)
	}
	cfg, err := load("staff_token: staff-token-0123456789\nstore: {currency: EUR, locale: de-DE, require_prices: true, sound_on_count: true}\n")
	if err != nil {
		t.Fatal(err)
	}
	if st := cfg.Store.settings(); st.Currency != "EUR" || st.Locale != "de-DE" || !st.RequirePrices || !st.Sound || st.Vibrate || cfg.StaffToken != "staff-token-0123456789" {
		t.Fatalf("store %+v, staff token %q", st, cfg.StaffToken)
	}
	for text, says := range map[string]string{
		"store: {currency: euro}\n":  "store.currency",
		"store: {currency: eur}\n":   "store.currency",
		"store: {locale: 'de DE'}\n": "store.locale",
		"staff_token: short\n":       "staff_token: 5 characters",
		"staff_token: same-token-0123456789\nadmin_token: same-token-0123456789\n": "the same as admin_token",
		"store: {currency: EUR, colour: red}\n":                                    "colour",
	} {
		if _, err := load(text); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error naming %s", text, err, says)
		}
	}
}
