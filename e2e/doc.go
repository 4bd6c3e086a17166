// Package e2e holds end-to-end tests of the whole system in a real browser: the real ebrcs
// binary serves the pages, headless Chromium (driven over the DevTools protocol with chromedp)
// opens them with a fake camera that plays a rendered checkout scenario, streams it to the
// server over WebRTC (WHIP), and the tests read what the shopper sees: the cart, the receipt and
// the annotated video.
//
// The tests need root (or CAP_SYS_ADMIN), /usr/bin/chromium, unshare and ip: they re-execute
// themselves in a private network namespace with only the loopback interface up, where
// Chromium and the server meet on 127.0.0.1. `go test -short` skips them. The annotation test
// also holds the returned video back with tc (iproute2's, an HTB qdisc and u32 filters on lo).
package e2e
