package data

import (
	"time"
)

// Refits. The projection is fitted at Open and refitted in the background when the catalog
// has changed enough to move it: after Options.Adapt.RefitEvery learned views, and after
// products are added or removed (debounced, so that a bulk import refits once). A refit runs
// under writeMu (changes wait for it, from 0.1 s at 1,000 products to 0.5 s at 10,000;
// searches do not) and swaps the projection, the projected prototypes and the projected
// "none" answers at once under the write lock: every Recognise after it scores in the new
// space, in every pipeline.
//
// Between refits a new product, learned view or "none" answer is projected with the current
// projection, so it is recognised at once.

// adaptation is the catalog's adapted-matching state.
type adaptation struct {
	// Guarded by writeMu.
	sc              *scatter
	nones           []noneView // the "none" memory, oldest first
	learnedSinceFit int        // learned views added or removed since the last fit
	learnedGen      int64      // catalog_state.learned_generation

	// Refit scheduling, guarded by refitMu.
	timer   *time.Timer
	pending bool      // a refit was asked for and has not started
	first   time.Time // when the oldest pending request was made
	due     time.Time // when the pending refit runs
	running bool
	stopped bool // the catalog is closing: schedule nothing more
}

// noneView is a "none" answer in memory: its learned view id and raw vector.
type noneView struct {
	id  int64
	vec []float32
}

// Refit fits the projection to the catalog as it is now and waits until every Recognise uses
// it. The catalog refits by itself in the background (see AdaptOptions); Refit is for a
// caller that needs the fit settled at once, such as an evaluation that has just imported
// its products.
func (c *Catalog) Refit() error {
	c.lockWrite()
	defer c.unlockWrite()
	if err := c.checkOpen(); err != nil {
		return err
	}
	c.refitLocked("asked for")
	return nil
}

// WaitRefit returns once no refit is running or scheduled (a scheduled one may wait for
// AdaptOptions.RefitDelay). An evaluation calls it after each answer to be reproducible.
func (c *Catalog) WaitRefit() {
	for {
		c.refitMu.Lock()
		busy := c.ad.pending || c.ad.running
		c.refitMu.Unlock()
		if !busy {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// requestRefit schedules a refit after delay. Requests coalesce: a pending refit runs at the
// time the latest request asks for (a product change pushes it back by RefitDelay), but never
// later than RefitMaxDelay after the first request, nor later than an earlier request asked.
func (c *Catalog) requestRefit(delay time.Duration) {
	c.refitMu.Lock()
	defer c.refitMu.Unlock()
	ad := &c.ad
	if ad.stopped {
		return
	}
	now := time.Now()
	due := now.Add(delay)
	if ad.pending {
		if limit := ad.first.Add(c.opts.Adapt.RefitMaxDelay); due.After(limit) {
			due = limit
		}
		if delay == 0 && ad.due.Before(due) {
			due = ad.due
		}
	} else {
		ad.pending, ad.first = true, now
	}
	ad.due = due
	if ad.running {
		return // the running refit re-arms the timer when it ends
	}
	c.armRefitLocked(now)
}

// armRefitLocked sets the timer for the pending refit. refitMu is held.
func (c *Catalog) armRefitLocked(now time.Time) {
	wait := max(c.ad.due.Sub(now), 0)
	if c.ad.timer == nil {
		c.ad.timer = time.AfterFunc(wait, c.runScheduledRefit)
	} else {
		c.ad.timer.Reset(wait)
	}
}

// runScheduledRefit is the timer's function: it runs the pending refit, if it is due, in the
// background work group (Close waits for it).
func (c *Catalog) runScheduledRefit() {
	c.refitMu.Lock()
	ad := &c.ad
	if ad.stopped || ad.running || !ad.pending {
		c.refitMu.Unlock()
		return
	}
	if now := time.Now(); now.Before(ad.due) {
		c.armRefitLocked(now) // pushed back since the timer was set
		c.refitMu.Unlock()
		return
	}
	ad.pending, ad.running = false, true
	c.bgWG.Add(1)
	c.refitMu.Unlock()

	defer c.bgWG.Done()
	c.lockWrite()
	if c.checkOpen() == nil {
		c.refitLocked("scheduled")
	}
	c.unlockWrite()

	c.refitMu.Lock()
	ad.running = false
	if ad.pending && !ad.stopped {
		c.armRefitLocked(time.Now())
	}
	c.refitMu.Unlock()
}

// stopRefits cancels scheduled refits (Close). A running one finishes; Close waits for it
// through bgWG.
func (c *Catalog) stopRefits() {
	c.refitMu.Lock()
	defer c.refitMu.Unlock()
	c.ad.stopped = true
	c.ad.pending = false
	if c.ad.timer != nil {
		c.ad.timer.Stop()
	}
}

// refitLocked fits the projection, projects every prototype and "none" answer with it and
// swaps them in. writeMu is held, so the statistics cannot change meanwhile. A projection
// that cannot be fitted falls back to cosine scoring (logged).
func (c *Catalog) refitLocked(why string) {
	start := time.Now()
	ad := &c.ad
	proj, err := ad.sc.fit(c.opts.Adapt)
	if err != nil {
		c.log.Warn("could not fit the catalog's projection", "err", err)
	}
	ids, protos := ad.sc.prototypes(proj, c.opts.Adapt.LearnedWeight)
	x, err := newVectorIndex(IndexFlat, c.dim, 0, 0)
	if err == nil {
		err = x.add(protos, ids)
	}
	if err != nil {
		// FAISS out of memory: keep scoring with the current projection and prototypes.
		x.close()
		c.log.Error("refit: could not index the prototypes; keeping the previous projection", "err", err)
		return
	}
	negIDs, negProj := c.projectNones(proj)
	c.mu.Lock()
	old := c.aprotos
	c.proj, c.aprotos, c.negIDs, c.negProj = proj, x, negIDs, negProj
	c.stats.Refits++
	c.stats.LastRefit = time.Since(start)
	c.mu.Unlock()
	old.close()
	ad.learnedSinceFit = 0
	// Every request was made under writeMu, before this refit took it: all are met.
	c.refitMu.Lock()
	ad.pending = false
	if ad.timer != nil {
		ad.timer.Stop()
	}
	c.refitMu.Unlock()
	c.log.Info("catalog projection refitted", "why", why, "adapted", proj.adapted(), "products", len(ids),
		"vectors", int(ad.sc.n), "took", time.Since(start).Round(time.Millisecond))
	c.saveScatterLocked()
}

// projectNones projects the "none" memory. writeMu is held.
func (c *Catalog) projectNones(proj *projection) ([]int64, []float32) {
	ids := make([]int64, len(c.ad.nones))
	raw := make([]float32, 0, len(c.ad.nones)*c.dim)
	for i, n := range c.ad.nones {
		ids[i] = n.id
		raw = append(raw, n.vec...)
	}
	return ids, proj.apply(raw)
}

// projectPrototypeLocked returns product pid's projected prototype with the current
// projection, or nil when it has no vector. writeMu is held.
func (c *Catalog) projectPrototypeLocked(pid int64) []float32 {
	ps := c.ad.sc.products[pid]
	if ps == nil {
		return nil
	}
	m := ps.rawMean(c.dim, c.opts.Adapt.LearnedWeight)
	if m == nil {
		return nil
	}
	return c.proj.applyRows(m)
}

// updatePrototypeLocked replaces product pid's row in the adapted prototype index after its
// vectors changed. writeMu and mu (for writing) are held. On a FAISS failure the next refit
// rebuilds the index, and is asked for now.
func (c *Catalog) updatePrototypeLocked(pid int64, proto []float32) {
	if _, err := c.aprotos.remove([]int64{pid}); err != nil {
		c.log.Error("could not update a product's adapted prototype", "id", pid, "err", err)
		c.requestRefit(0)
		return
	}
	if proto == nil {
		return
	}
	if err := c.aprotos.add(proto, []int64{pid}); err != nil {
		c.log.Error("could not update a product's adapted prototype", "id", pid, "err", err)
		c.requestRefit(0)
	}
}
