package cart

// LastCountCrop returns the crop (JPEG) of the latest camera count of a product still in the
// cart and still kept, or nil: the back office's history shows what was counted.
func (c *Cart) LastCountCrop(productID int64, product string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.seen.count) - 1; i >= 0; i-- {
		r := c.seen.count[i]
		if sameProduct(Line{ProductID: r.productID, Product: r.product}, productID, product) {
			if k := c.seen.crops[r.crop]; k != nil {
				return k.data
			}
			return nil
		}
	}
	return nil
}
